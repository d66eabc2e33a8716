import type { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatementTracker, type TrackedStatement } from '../../src/core/wire/statement-tracker.js';
import { tapSocket } from '../../src/core/wire/socket-tap.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

type Event = { from: 'client' | 'server'; bytes: Buffer };

/** A tracker that also keeps the raw traffic, so it can be fed again cut differently. */
function recordingTracker() {
  const statements: TrackedStatement<null>[] = [];
  const events: Event[] = [];
  const tracker = new StatementTracker<null>(() => null, (s) => statements.push(s));
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
  const { sql, params, rows, wireBytes, payloadBytes, command, error, startsRoundTrip } = s;
  return { sql, params, rows, wireBytes, payloadBytes, command, error, startsRoundTrip };
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
  const tracker = new StatementTracker<null>(() => null, (s) => statements.push(s));
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
    untap = tapSocket((client as unknown as { connection: { stream: Duplex } }).connection.stream, rec.tracker as StatementTracker<unknown>);
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

  it('matches the measured wire and payload bytes of select id over 1000 rows (DESIGN §7)', async () => {
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
    const tracker = new StatementTracker<null>(() => null, (s) => seen.push(s));
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
