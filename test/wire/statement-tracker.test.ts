import type { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatementTracker, type TrackedStatement } from '../../src/core/wire/statement-tracker.js';
import { tapSocket } from '../../src/core/wire/socket-tap.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import {
  bindComplete,
  complete,
  dataRow,
  errorResponse,
  extended,
  int16,
  int32,
  msg,
  noData,
  parseComplete,
  ready,
  sync,
} from '../support/wire-messages.js';

type Event = { from: 'client' | 'server'; bytes: Buffer };

/** A tracker that also keeps the raw traffic, so it can be fed again cut differently. */
function recordingTracker() {
  const statements: TrackedStatement<null>[] = [];
  const events: Event[] = [];
  const tracker = new StatementTracker<null>(
    () => null,
    (s) => statements.push(s),
  );
  const fromClient = tracker.fromClient.bind(tracker);
  const fromServer = tracker.fromServer.bind(tracker);
  tracker.fromClient = (chunk) => {
    events.push({ from: 'client', bytes: Buffer.from(chunk) });
    fromClient(chunk);
  };
  tracker.fromServer = (chunk) => {
    events.push({ from: 'server', bytes: Buffer.from(chunk) });
    fromServer(chunk);
  };
  return { tracker, statements, events };
}

/** What must not depend on how the stream was cut (timings do). */
function shape(s: TrackedStatement<null>) {
  const { sql, params, rows, wireBytes, sentBytes, payloadBytes, command, error, startsRoundTrip } = s;
  return { sql, params, rows, wireBytes, sentBytes, payloadBytes, command, error, startsRoundTrip };
}

/** Merges consecutive chunks of one direction into segments: requests, then their responses. */
function segments(events: Event[]): Event[] {
  const out: Event[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (last && last.from === e.from) last.bytes = Buffer.concat([last.bytes, e.bytes]);
    else out.push({ from: e.from, bytes: Buffer.from(e.bytes) });
  }
  return out;
}

/** Feeds segments to a fresh tracker, each segment cut by `cut` into chunks. */
function replay(segs: Event[], cut: (segment: Buffer, index: number) => Buffer[]) {
  const statements: TrackedStatement<null>[] = [];
  const tracker = new StatementTracker<null>(
    () => null,
    (s) => statements.push(s),
  );
  segs.forEach((seg, i) => {
    for (const piece of cut(seg.bytes, i)) {
      if (seg.from === 'client') tracker.fromClient(piece);
      else tracker.fromServer(piece);
    }
  });
  return statements.map(shape);
}

/** A small deterministic PRNG for the random cuts (reproducible failures). */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(backendKinds)('statement tracker on %s', (kind) => {
  let backend: TestBackend;
  let client: pg.Client;
  let rec: ReturnType<typeof recordingTracker>;
  let untap: () => void;

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    rec = recordingTracker();
    untap = tapSocket(
      (client as unknown as { connection: { stream: Duplex } }).connection.stream,
      rec.tracker as StatementTracker<unknown>,
    );
  });

  afterAll(async () => {
    untap?.();
    await client?.end();
    await backend?.close();
  });

  it('counts UTF-8 payload bytes of a known value exactly: 1000 × é is 2000 bytes', async () => {
    rec.statements.length = 0;
    await client.query(`select repeat('é', 1000) as t`);
    expect(rec.statements).toHaveLength(1);
    expect(rec.statements[0]).toMatchObject({ rows: 1, payloadBytes: 2000, command: 'SELECT 1', error: null });
  });

  it('matches the measured wire and payload bytes of select id over 1000 rows (docs/design.md §7)', async () => {
    rec.statements.length = 0;
    await client.query('select id from generate_series(1, 1000) as id');
    // payload: 9×1 + 90×2 + 900×3 + 1×4 digits; wire adds 11 bytes per DataRow plus
    // RowDescription (28), CommandComplete (17) and ReadyForQuery (6).
    expect(rec.statements[0]).toMatchObject({ rows: 1000, payloadBytes: 2893, wireBytes: 13944, command: 'SELECT 1000' });
  });

  it('reads SQL and text parameters of the extended protocol; NULL fields carry no payload', async () => {
    rec.statements.length = 0;
    await client.query('select $1::text as a, null::text as b, $2::int as c', ['xyz', 42]);
    expect(rec.statements).toHaveLength(1);
    expect(rec.statements[0]).toMatchObject({
      sql: 'select $1::text as a, null::text as b, $2::int as c',
      params: ['xyz', '42'],
      rows: 1,
      payloadBytes: 5,
    });
    // Extended protocol: ParseComplete and BindComplete (5 bytes each) are part of the wire cost.
  });

  it('records a failing statement with the server error and closes it at ReadyForQuery', async () => {
    rec.statements.length = 0;
    await expect(client.query('select 1/0')).rejects.toThrow(/division by zero/);
    await client.query('select 1');
    expect(rec.statements.map((s) => [s.command, s.error?.includes('division by zero') ?? false])).toEqual([
      [null, true],
      ['SELECT 1', false],
    ]);
  });

  it('gives identical statements however the recorded traffic is cut into chunks', async () => {
    rec.statements.length = 0;
    rec.events.length = 0;
    await client.query(`select 'a' as x, repeat('ب', 300) as y from generate_series(1, 5)`);
    await client.query('select $1::text as p', ['نام']);
    await expect(client.query('select nope')).rejects.toThrow();
    await client.query('select null as n');
    const expected = rec.statements.map(shape);
    expect(expected).toHaveLength(4);
    const segs = segments(rec.events);
    // As it arrived, and as one chunk per direction change.
    expect(replay(segs, (b) => [b])).toEqual(expected);
    // Split in two at every offset of every segment.
    for (let target = 0; target < segs.length; target++) {
      const len = segs[target]!.bytes.length;
      for (let at = 1; at < len; at++) {
        const got = replay(segs, (b, i) => (i === target ? [b.subarray(0, at), b.subarray(at)] : [b]));
        if (JSON.stringify(got) !== JSON.stringify(expected)) expect({ target, at, got }).toEqual({ target, at, got: expected });
      }
    }
    // Byte by byte, and at random offsets.
    expect(replay(segs, (b) => [...b].map((x) => Buffer.from([x])))).toEqual(expected);
    const rand = prng(42);
    for (let trial = 0; trial < 200; trial++) {
      const got = replay(segs, (b) => {
        const pieces: Buffer[] = [];
        let at = 0;
        while (at < b.length) {
          const n = 1 + Math.floor(rand() * 64);
          pieces.push(b.subarray(at, at + n));
          at += n;
        }
        return pieces;
      });
      expect(got).toEqual(expected);
    }
  });
});

describe('round trips', () => {
  it('counts pipelined statements as one round trip and sequential ones as one each', () => {
    const seen: TrackedStatement<null>[] = [];
    const tracker = new StatementTracker<null>(
      () => null,
      (s) => seen.push(s),
    );
    const q = (sql: string) => {
      const body = Buffer.from(sql + '\0');
      const head = Buffer.alloc(5);
      head.write('Q', 0);
      head.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([head, body]);
    };
    const rfq = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
    // Two sent back to back (pipelined), then both answered, then a third after waiting.
    tracker.fromClient(Buffer.concat([q('select 1'), q('select 2')]));
    tracker.fromServer(Buffer.concat([rfq, rfq]));
    tracker.fromClient(q('select 3'));
    tracker.fromServer(rfq);
    expect(seen.map((s) => [s.sql, s.startsRoundTrip, s.wireBytes])).toEqual([
      ['select 1', true, 6],
      ['select 2', false, 6],
      ['select 3', true, 6],
    ]);
  });
});

describe('pipelines and function calls', () => {
  function track() {
    const seen: TrackedStatement<null>[] = [];
    const tracker = new StatementTracker<null>(
      () => null,
      (s) => seen.push(s),
    );
    return { tracker, seen };
  }

  it('reports each Execute of a pipeline (one Sync) as its own statement, in one round trip', () => {
    const { tracker, seen } = track();
    tracker.fromClient(Buffer.concat([extended('select $1', 'a'), extended('select $1 || $1', 'bb'), sync]));
    const first = Buffer.concat([parseComplete, bindComplete, noData, dataRow('a'), complete('SELECT 1')]);
    const second = Buffer.concat([parseComplete, bindComplete, noData, dataRow('bbbb'), dataRow('x'), complete('SELECT 2')]);
    tracker.fromServer(first);
    // Nothing is reported before the ReadyForQuery closes the cycle.
    expect(seen).toHaveLength(0);
    tracker.fromServer(Buffer.concat([second, ready('I')]));
    expect(tracker.outstanding).toBe(0);
    // What each sent: its Parse/Bind/Describe/Execute, and the Sync (5 bytes) on the last.
    expect(seen.map((s) => s.sentBytes)).toEqual([
      extended('select $1', 'a').length,
      extended('select $1 || $1', 'bb').length + 5,
    ]);
    expect(
      seen.map((s) => [s.sql, s.params, s.rows, s.payloadBytes, s.wireBytes, s.command, s.startsRoundTrip, s.status]),
    ).toEqual([
      ['select $1', ['a'], 1, 1, first.length, 'SELECT 1', true, 'T'],
      ['select $1 || $1', ['bb'], 2, 5, second.length + 6, 'SELECT 2', false, 'I'],
    ]);
  });

  it('gives the error to the failing Execute and marks the ones the server skipped', () => {
    const { tracker, seen } = track();
    tracker.fromClient(Buffer.concat([extended('select 1/$1', '0'), extended('select $1', 'never'), sync]));
    tracker.fromServer(Buffer.concat([parseComplete, bindComplete, noData, errorResponse('division by zero'), ready('I')]));
    expect(seen.map((s) => [s.sql, s.error, s.status])).toEqual([
      ['select 1/$1', 'division by zero (SQLSTATE 22012)', 'E'],
      ['select $1', 'not executed: an earlier statement of the same pipeline failed', 'I'],
    ]);
    expect(seen[0]!.wireBytes + seen[1]!.wireBytes).toBe(5 + 5 + 5 + errorResponse('division by zero').length + 6);
  });

  it('a Sync that executed nothing (a prepare) is one statement named by what it parsed', () => {
    const { tracker, seen } = track();
    tracker.fromClient(Buffer.concat([msg('P', 'stmt1', 'select 42', int16(0)), msg('D', Buffer.from('S'), 'stmt1'), sync]));
    tracker.fromServer(Buffer.concat([parseComplete, msg('t', int16(0)), noData, ready('I')]));
    // Then the prepared statement runs by name.
    tracker.fromClient(Buffer.concat([msg('B', '', 'stmt1', int16(0), int16(0), int16(0)), msg('E', '', int32(0)), sync]));
    tracker.fromServer(Buffer.concat([bindComplete, dataRow('42'), complete('SELECT 1'), ready('I')]));
    expect(seen.map((s) => [s.sql, s.rows, s.command, s.wireBytes])).toEqual([
      ['select 42', 0, null, 5 + 7 + 5 + 6],
      ['select 42', 1, 'SELECT 1', 5 + dataRow('42').length + complete('SELECT 1').length + 6],
    ]);
  });

  it('reports a FunctionCall (libpq large objects) with its result as payload', () => {
    const { tracker, seen } = track();
    // FunctionCall loread(fd 0, 5 bytes): OID 954, two int4 arguments in binary, binary result.
    const call = msg('F', int32(954), int16(1), int16(1), int16(2), int32(4), int32(0), int32(4), int32(5), int16(1));
    tracker.fromClient(call);
    const response = msg('V', int32(5), Buffer.from('hello'));
    tracker.fromServer(Buffer.concat([response, ready('T')]));
    expect(seen.map((s) => [s.sql, s.rows, s.payloadBytes, s.wireBytes, s.sentBytes, s.status])).toEqual([
      ['/* FunctionCall loread (oid 954) */', 0, 5, response.length + 6, call.length, 'T'],
    ]);
  });

  it('abandoning a half-answered pipeline gives back only the unanswered share of a shared in-flight count', () => {
    const inFlight = { count: 0 };
    const seen: TrackedStatement<null>[] = [];
    const other = new StatementTracker<null>(
      () => null,
      (s) => seen.push(s),
      { sharedInFlight: inFlight },
    );
    const dropped = new StatementTracker<null>(
      () => null,
      () => undefined,
      { sharedInFlight: inFlight },
    );
    // Another connection waits for its statement meanwhile.
    other.fromClient(Buffer.concat([extended('select $1', 'x'), sync]));
    dropped.fromClient(Buffer.concat([extended('select $1', 'a'), extended('select $1', 'b'), sync]));
    // The first Execute is answered, then the connection is gone.
    dropped.fromServer(Buffer.concat([parseComplete, bindComplete, noData, dataRow('a'), complete('SELECT 1')]));
    expect(inFlight.count).toBe(2);
    expect(dropped.abandon()).toBe(2);
    expect([inFlight.count, dropped.outstanding]).toEqual([1, 0]);
    other.fromServer(Buffer.concat([parseComplete, bindComplete, noData, dataRow('x'), complete('SELECT 1'), ready('I')]));
    expect(inFlight.count).toBe(0);
    // Nothing outstanding any more: the next statement waits anew.
    other.fromClient(Buffer.concat([extended('select $1', 'y'), sync]));
    expect(inFlight.count).toBe(1);
    other.fromServer(Buffer.concat([parseComplete, bindComplete, noData, dataRow('y'), complete('SELECT 1'), ready('I')]));
    expect(seen.map((s) => s.startsRoundTrip)).toEqual([true, true]);
  });

  it('gives early responses (before their Execute is sent) to that Execute', () => {
    const { tracker, seen } = track();
    // Parse and Flush first; the server answers ParseComplete; then Bind, Execute, Sync.
    tracker.fromClient(Buffer.concat([msg('P', '', 'select 1', int16(0)), msg('H')]));
    tracker.fromServer(parseComplete);
    tracker.fromClient(Buffer.concat([msg('B', '', '', int16(0), int16(0), int16(0)), msg('E', '', int32(0)), sync]));
    tracker.fromServer(Buffer.concat([bindComplete, dataRow('1'), complete('SELECT 1'), ready('I')]));
    expect(seen.map((s) => [s.sql, s.rows, s.wireBytes])).toEqual([
      ['select 1', 1, 5 + 5 + dataRow('1').length + complete('SELECT 1').length + 6],
    ]);
  });
});

describe('looking ahead for an oversized client message', () => {
  const q = (sql: string) => {
    const body = Buffer.from(`${sql}\0`);
    const head = Buffer.alloc(5);
    head.write('Q', 0, 'latin1');
    head.writeInt32BE(4 + body.length, 1);
    return Buffer.concat([head, body]);
  };

  it('finds it in a chunk, across chunks and inside a header split between chunks, without consuming anything', () => {
    const tracker = new StatementTracker<null>(() => null, () => undefined);
    const small = q('select 1');
    const big = q(`select '${'x'.repeat(2000)}'`);
    const stream = Buffer.concat([small, big]);
    expect(tracker.peekOversizedClientMessage(stream, 1024)).toEqual({ offset: small.length, wireBytes: big.length });
    expect(tracker.peekOversizedClientMessage(stream, 4096)).toBeNull();
    // The small message, then the first 3 bytes of the big one's header: the rest of the header comes next.
    const cut = small.length + 3;
    expect(tracker.peekOversizedClientMessage(stream.subarray(0, cut), 1024)).toBeNull();
    tracker.fromClient(stream.subarray(0, cut));
    expect(tracker.peekOversizedClientMessage(stream.subarray(cut), 1024)).toEqual({ offset: 0, wireBytes: big.length });
    // Inside an accepted message, its remaining bytes are skipped: the next header is the one read.
    const inside = new StatementTracker<null>(() => null, () => undefined);
    inside.fromClient(stream.subarray(0, small.length + 10));
    expect(inside.peekOversizedClientMessage(Buffer.concat([stream.subarray(small.length + 10), big]), 4096)).toBeNull();
    expect(inside.peekOversizedClientMessage(Buffer.concat([stream.subarray(small.length + 10), big]), 1024)).toEqual({
      offset: big.length - 10,
      wireBytes: big.length,
    });
  });
});
