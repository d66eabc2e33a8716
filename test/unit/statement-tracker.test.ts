/**
 * The statement tracker driven with hand-built protocol messages, no server: what each
 * statement is (SQL, parameters), what it cost (round trips, bytes, rows, payload), how it
 * ended (command, error, transaction status) and what it returned (captured values), with
 * exact figures. Fast enough to run for every mutant (docs/mutation.md); the tracker on a
 * real PGlite / PostgreSQL session is test/wire/statement-tracker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CAPTURE_LIMIT_BYTES,
  StatementTracker,
  dataRowValues,
  parseErrorMessage,
  type StatementTrackerOptions,
  type TrackedStatement,
} from '../../src/core/wire/statement-tracker.js';
import {
  bind,
  close,
  closeComplete,
  copyData,
  copyDone,
  copyFail,
  copyInResponse,
  copyOutResponse,
  describeMessage,
  emptyQuery,
  errorFields,
  execute,
  flush,
  functionCall,
  functionResult,
  notice,
  notification,
  parameterDescription,
  parameterStatus,
  parse,
  portalSuspended,
  query,
  row,
  rowDescription,
  terminate,
} from '../support/protocol-messages.js';
import { bindComplete, complete, errorResponse, int16, int32, msg, noData, parseComplete, ready, sync } from '../support/wire-messages.js';

/** A tracker on a clock the test sets, reporting into `seen`; `tag` is what tagNow returns. */
function track<Tag = string>(options: StatementTrackerOptions<Tag> = {}, tag?: () => Tag) {
  const clock = { t: 0 };
  const seen: TrackedStatement<Tag>[] = [];
  const state = { tag: 'turn-0' as unknown as Tag };
  const tracker = new StatementTracker<Tag>(
    tag ?? (() => state.tag),
    (s) => seen.push(s),
    { now: () => clock.t, ...options },
  );
  const client = (...messages: Buffer[]) => tracker.fromClient(Buffer.concat(messages));
  const server = (...messages: Buffer[]) => tracker.fromServer(Buffer.concat(messages));
  return { tracker, seen, clock, state, client, server };
}

const len = (...messages: Buffer[]) => messages.reduce((n, m) => n + m.length, 0);
const SKIPPED = 'not executed: an earlier statement of the same pipeline failed';
const int4 = { typeOid: 23, format: 0 };
const text = { typeOid: 25, format: 0 };

describe('simple Query', () => {
  it('measures one statement exactly: SQL, times, rows, payload, bytes both ways, command, status', () => {
    const { seen, clock, client, server, tracker } = track();
    clock.t = 10;
    const q = query('select a, b from t');
    client(q);
    expect([tracker.outstanding, seen.length]).toEqual([1, 0]);
    clock.t = 20;
    const t = rowDescription([{ name: 'a', ...text }, { name: 'b', ...text }]);
    const rows = [row('x', null), row('yz', 'w')];
    const c = complete('SELECT 2');
    server(t, ...rows, c);
    // Nothing is reported before the ReadyForQuery.
    expect([tracker.outstanding, seen.length]).toEqual([1, 0]);
    clock.t = 30;
    server(ready('T'));
    expect(tracker.outstanding).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toEqual({
      sql: 'select a, b from t',
      params: [],
      sentAt: 10,
      doneAt: 30,
      startsRoundTrip: true,
      rows: 2,
      wireBytes: len(t, ...rows, c) + 6,
      sentBytes: q.length,
      // x, NULL, yz, w.
      payloadBytes: 4,
      command: 'SELECT 2',
      error: null,
      status: 'T',
      tag: 'turn-0',
    });
    expect('values' in seen[0]!).toBe(false);
    // Literal figures, so the builders cannot be wrong the same way as the tracker.
    expect([seen[0]!.sentBytes, seen[0]!.wireBytes]).toEqual([24, 47 + 16 + 18 + 14 + 6]);
  });

  it('a multi-statement string is one statement: every result counted, the last command, one wait', () => {
    const inFlight = { count: 0 };
    const { seen, clock, client, server } = track({ sharedInFlight: inFlight });
    client(query('select 1; select 2, 3'));
    const first = [rowDescription([{ name: '?column?', ...int4 }]), row('1'), complete('SELECT 1')];
    const second = [rowDescription([{ name: 'a', ...int4 }, { name: 'b', ...int4 }]), row('2', '3'), complete('SELECT 1')];
    clock.t = 5;
    server(...first);
    // A simple Query is answered by its ReadyForQuery only, not by its first CommandComplete.
    expect(inFlight.count).toBe(1);
    server(...second);
    expect(inFlight.count).toBe(1);
    clock.t = 9;
    server(ready('I'));
    expect(inFlight.count).toBe(0);
    expect(seen.map((s) => [s.rows, s.payloadBytes, s.wireBytes, s.command, s.doneAt, s.status])).toEqual([
      [2, 3, len(...first, ...second) + 6, 'SELECT 1', 9, 'I'],
    ]);
  });

  it('an empty query string is answered by EmptyQueryResponse, its wait ending at the ReadyForQuery', () => {
    const inFlight = { count: 0 };
    const { seen, client, server } = track({ sharedInFlight: inFlight });
    client(query(''));
    server(emptyQuery);
    expect(inFlight.count).toBe(1);
    server(ready('I'));
    expect(inFlight.count).toBe(0);
    expect(seen.map((s) => [s.sql, s.rows, s.wireBytes, s.command, s.error])).toEqual([['', 0, 11, null, null]]);
  });

  it('an error keeps what ran before it in the same string', () => {
    const { seen, client, server } = track();
    client(query('select 1; select 1/0'));
    const before = [rowDescription([{ name: '?column?', ...int4 }]), row('1'), complete('SELECT 1')];
    const error = errorResponse('division by zero');
    server(...before, error, ready('I'));
    expect(seen.map((s) => [s.rows, s.command, s.error, s.wireBytes, s.status])).toEqual([
      [1, 'SELECT 1', 'division by zero (SQLSTATE 22012)', len(...before, error) + 6, 'I'],
    ]);
  });

  it('counts sequential statements as one round trip each and pipelined ones as one, with the tag of their sending', () => {
    const { seen, state, client, server } = track();
    const a = query('select 1');
    const b = query('select 22');
    const c = query('select 333');
    state.tag = 'turn-1';
    client(a);
    server(ready('I'));
    state.tag = 'turn-2';
    client(b);
    state.tag = 'turn-3';
    client(c);
    state.tag = 'turn-4';
    server(ready('I'), ready('T'));
    expect(seen.map((s) => [s.sql, s.startsRoundTrip, s.sentBytes, s.wireBytes, s.tag, s.status])).toEqual([
      ['select 1', true, a.length, 6, 'turn-1', 'I'],
      ['select 22', true, b.length, 6, 'turn-2', 'I'],
      ['select 333', false, c.length, 6, 'turn-3', 'T'],
    ]);
  });

  it('shares the in-flight count across connections: a wait that overlaps another is not a new round trip', () => {
    const inFlight = { count: 0 };
    const a = track({ sharedInFlight: inFlight });
    const b = track({ sharedInFlight: inFlight });
    a.client(query('select 1'));
    b.client(query('select 2'));
    expect(inFlight.count).toBe(2);
    a.server(ready('I'));
    b.server(ready('I'));
    expect(inFlight.count).toBe(0);
    b.client(query('select 3'));
    b.server(ready('I'));
    expect([...a.seen, ...b.seen].map((s) => [s.sql, s.startsRoundTrip])).toEqual([
      ['select 1', true],
      ['select 2', false],
      ['select 3', true],
    ]);
  });

  it('a ReadyForQuery with an unknown or missing status byte reports no status', () => {
    const { seen, client, server } = track();
    client(query('select 1'), query('select 2'));
    server(msg('Z', Buffer.from('?')), msg('Z'));
    expect(seen.map((s) => [s.status, s.wireBytes])).toEqual([
      [null, 6],
      [null, 5],
    ]);
  });

  it('uses performance.now without a clock of its own', () => {
    const seen: TrackedStatement<null>[] = [];
    const tracker = new StatementTracker<null>(() => null, (s) => seen.push(s));
    const before = performance.now();
    tracker.fromClient(query('select 1'));
    tracker.fromServer(ready('I'));
    const after = performance.now();
    expect(seen).toHaveLength(1);
    const { sentAt, doneAt } = seen[0]!;
    expect(before <= sentAt && sentAt <= doneAt && doneAt <= after).toBe(true);
  });
});

describe('frontend messages it does not read', () => {
  it('count as sent bytes of the next statement', () => {
    const { seen, client, server } = track();
    // A SASLResponse has no place after the startup phase; its bytes still went to the server.
    const stray = msg('p', Buffer.from('xyz'));
    const q = query('select 1');
    client(stray, q);
    server(ready('I'));
    expect(seen.map((s) => [s.sql, s.sentBytes])).toEqual([['select 1', stray.length + q.length]]);
  });
});

describe('asynchronous messages', () => {
  it('belong to no statement when nothing is outstanding, and to the running one otherwise', () => {
    const { seen, client, server } = track();
    server(notice('idle'), parameterStatus('TimeZone', 'UTC'), notification(42, 'ch', 'hi'));
    const during = [notice('during'), parameterStatus('application_name', 'x'), notification(42, 'ch', 'again')];
    client(query('listen ch'));
    server(...during, complete('LISTEN'), ready('I'));
    expect(seen.map((s) => [s.wireBytes, s.rows, s.command])).toEqual([[len(...during, complete('LISTEN')) + 6, 0, 'LISTEN']]);
  });
});

describe('extended protocol', () => {
  it('pipelined Executes: each its own statement, answered at its result, the Sync on the last', () => {
    const inFlight = { count: 0 };
    const { seen, clock, client, server } = track({ sharedInFlight: inFlight });
    const first = [parse('', 'select $1'), bind('', '', ['a']), describeMessage('P', ''), execute()];
    const second = [parse('', 'select $1 || $1'), bind('', '', ['bb']), describeMessage('P', ''), execute()];
    clock.t = 1;
    client(...first);
    clock.t = 2;
    client(...second, sync);
    expect(inFlight.count).toBe(2);
    const answerOne = [parseComplete, bindComplete, rowDescription([{ name: '?column?', ...text }]), row('a'), complete('SELECT 1')];
    clock.t = 3;
    server(...answerOne);
    // Answered: the other connections' next statement would start a round trip of its own.
    expect(inFlight.count).toBe(1);
    const answerTwo = [parseComplete, bindComplete, noData, row('bbbb'), row('x'), complete('SELECT 2')];
    clock.t = 4;
    server(...answerTwo);
    expect(inFlight.count).toBe(0);
    clock.t = 5;
    server(ready('I'));
    expect(seen).toEqual([
      {
        sql: 'select $1',
        params: ['a'],
        sentAt: 1,
        doneAt: 3,
        startsRoundTrip: true,
        rows: 1,
        wireBytes: len(...answerOne),
        sentBytes: len(...first),
        payloadBytes: 1,
        command: 'SELECT 1',
        error: null,
        // The implicit transaction is still open before the pipeline's last statement.
        status: 'T',
        tag: 'turn-0',
      },
      {
        sql: 'select $1 || $1',
        params: ['bb'],
        sentAt: 2,
        // The last one ends at the ReadyForQuery.
        doneAt: 5,
        startsRoundTrip: false,
        rows: 2,
        wireBytes: len(...answerTwo) + 6,
        sentBytes: len(...second, sync),
        payloadBytes: 5,
        command: 'SELECT 2',
        error: null,
        status: 'I',
        tag: 'turn-0',
      },
    ]);
  });

  it('several Sync cycles in flight: each answered by its own ReadyForQuery, in order', () => {
    const { seen, client, server, tracker } = track();
    client(parse('', 'select 1'), bind('', '', []), execute(), sync, parse('', 'select 2'), bind('', '', []), execute(), sync);
    expect(tracker.outstanding).toBe(2);
    server(parseComplete, bindComplete, row('1'), complete('SELECT 1'), ready('I'));
    expect(seen.map((s) => s.sql)).toEqual(['select 1']);
    expect(tracker.outstanding).toBe(1);
    server(parseComplete, bindComplete, row('2'), row('2'), complete('SELECT 2'), ready('I'));
    expect(seen.map((s) => [s.sql, s.rows, s.startsRoundTrip, s.wireBytes])).toEqual([
      ['select 1', 1, true, 5 + 5 + 12 + 14 + 6],
      ['select 2', 2, false, 5 + 5 + 24 + 14 + 6],
    ]);
  });

  it('reads Bind parameters: text, NULL, binary for all (one format) and per parameter', () => {
    const { seen, client, server } = track();
    client(
      parse('', 'select $1, $2'),
      bind('', '', ['été', null, '']),
      execute(),
      bind('', '', [Buffer.from([0, 0, 0, 7]), Buffer.from([1, 2])], [1]),
      execute(),
      bind('', '', ['txt', Buffer.from([0, 0, 0, 9]), null], [0, 1, 1]),
      execute(),
      bind('', '', ['bin?', 'no'], [1, 0]),
      execute(),
      sync,
    );
    server(parseComplete, ...Array(4).fill([bindComplete, complete('SELECT 1')]).flat(), ready('I'));
    expect(seen.map((s) => s.params)).toEqual([
      ['été', null, ''],
      ['<binary 4 bytes>', '<binary 2 bytes>'],
      ['txt', '<binary 4 bytes>', null],
      ['<binary 4 bytes>', 'no'],
    ]);
  });

  it('runs named statements and portals by name; unknown or closed ones are named in a comment', () => {
    const { seen, client, server } = track();
    client(parse('s1', 'select 1'), parse('s2', 'select 2'), sync);
    server(parseComplete, parseComplete, ready('I'));
    client(
      bind('p1', 's1', []),
      bind('p2', 's2', ['x']),
      execute('p2'),
      execute('p1'),
      close('P', 'p1'),
      execute('p1'),
      execute('nope'),
      bind('', 'missing', []),
      execute(''),
      close('S', 's1'),
      bind('', 's1', []),
      execute(''),
      bind('', 's2', []),
      execute(''),
      sync,
    );
    // A portal does not outlive its Sync.
    client(execute('p2'), sync);
    expect(seen.map((s) => s.sql)).toEqual(['select 1;\nselect 2']);
    server(
      ...Array(2).fill(bindComplete),
      complete('SELECT 1'),
      complete('SELECT 1'),
      closeComplete,
      errorResponse('portal "p1" does not exist'),
      ready('I'),
      errorResponse('portal "p2" does not exist'),
      ready('I'),
    );
    expect(seen.slice(1).map((s) => [s.sql, s.params, s.error])).toEqual([
      ['select 2', ['x'], null],
      ['select 1', [], null],
      ['/* portal "p1" */', [], 'portal "p1" does not exist (SQLSTATE 22012)'],
      ['/* portal "nope" */', [], SKIPPED],
      ['/* prepared statement "missing" */', [], SKIPPED],
      ['/* prepared statement "s1" */', [], SKIPPED],
      ['select 2', [], SKIPPED],
      ['/* portal "p2" */', [], 'portal "p2" does not exist (SQLSTATE 22012)'],
    ]);
  });

  it('the unnamed statement and portal: replaced by the next Parse / Bind, gone once closed, the portal gone at the Sync', () => {
    const { seen, client, server } = track();
    client(
      parse('', 'select 1'),
      bind('', '', ['a']),
      parse('', 'select 2'),
      // The portal keeps what it was bound to; the statement is the latest Parse.
      execute(''),
      bind('', '', ['b']),
      execute(''),
      close('P', ''),
      execute(''),
      bind('', '', []),
      close('S', ''),
      bind('', '', []),
      execute(''),
      sync,
    );
    client(execute(''), sync);
    client(parse('named', 'select 3'), bind('', 'named', []), execute(''), sync);
    server(parseComplete, bindComplete, parseComplete, complete('SELECT 1'), bindComplete, complete('SELECT 1'));
    server(closeComplete, errorResponse('portal "" does not exist'), ready('E'));
    server(errorResponse('portal "" does not exist'), ready('I'));
    server(parseComplete, bindComplete, complete('SELECT 1'), ready('I'));
    expect(seen.map((s) => [s.sql, s.params])).toEqual([
      ['select 1', ['a']],
      ['select 2', ['b']],
      ['/* portal "" */', []],
      ['/* prepared statement "" */', []],
      ['/* portal "" */', []],
      ['select 3', []],
    ]);
  });

  it('an error mid-pipeline: it answers the failing Execute, later ones are skipped, statuses T, E, then the Sync', () => {
    const inFlight = { count: 0 };
    const { seen, clock, client, server } = track({ sharedInFlight: inFlight });
    const one = [parse('', 'select 1'), bind('', '', []), execute()];
    const two = [parse('', 'select 1/0'), bind('', '', []), execute()];
    const three = [parse('', 'select 3'), bind('', '', []), execute()];
    clock.t = 1;
    client(...one, ...two, ...three, sync);
    const answerOne = [parseComplete, bindComplete, row('1'), complete('SELECT 1')];
    const answerTwo = [parseComplete, bindComplete, errorResponse('division by zero')];
    clock.t = 2;
    server(...answerOne);
    clock.t = 3;
    server(...answerTwo);
    expect(inFlight.count).toBe(1);
    clock.t = 4;
    server(ready('I'));
    expect(inFlight.count).toBe(0);
    expect(seen.map((s) => [s.sql, s.error, s.command, s.status, s.doneAt, s.wireBytes, s.sentBytes])).toEqual([
      ['select 1', null, 'SELECT 1', 'T', 2, len(...answerOne), len(...one)],
      ['select 1/0', 'division by zero (SQLSTATE 22012)', null, 'E', 3, len(...answerTwo), len(...two)],
      ['select 3', SKIPPED, null, 'I', 4, 6, len(...three, sync)],
    ]);
  });

  it('statements of a pipeline after a failed one report the failed transaction (E) until the last', () => {
    const { seen, client, server } = track();
    client(parse('', 'select 1/0'), bind('', '', []), execute(), execute(), execute(), sync);
    server(parseComplete, bindComplete, errorResponse('division by zero'), ready('E'));
    expect(seen.map((s) => [s.status, s.error === SKIPPED])).toEqual([
      ['E', false],
      ['E', true],
      ['E', true],
    ]);
  });

  it('a simple Query never marks a statement skipped, even after an error, and waits until the ReadyForQuery', () => {
    const inFlight = { count: 0 };
    const { seen, client, server } = track({ sharedInFlight: inFlight });
    client(query('select 1/0'));
    server(errorResponse('division by zero'));
    expect(inFlight.count).toBe(1);
    server(ready('I'));
    expect(inFlight.count).toBe(0);
    expect(seen.map((s) => s.error)).toEqual(['division by zero (SQLSTATE 22012)']);
  });

  it('an error at the Sync (a deferred constraint at the implicit commit) is the last statement’s; the count never goes below 0', () => {
    const inFlight = { count: 0 };
    const { seen, client, server } = track({ sharedInFlight: inFlight });
    client(parse('', 'insert into t values (1)'), bind('', '', []), execute(), sync);
    server(parseComplete, bindComplete, complete('INSERT 0 1'));
    expect(inFlight.count).toBe(0);
    const error = errorResponse('violates foreign key constraint');
    server(error);
    expect(inFlight.count).toBe(0);
    server(ready('I'));
    expect(inFlight.count).toBe(0);
    expect(seen.map((s) => [s.command, s.error, s.status, s.wireBytes])).toEqual([
      ['INSERT 0 1', 'violates foreign key constraint (SQLSTATE 22012)', 'I', 5 + 5 + 16 + error.length + 6],
    ]);
  });

  it('a parse error answered before the Execute is sent is that statement’s error, with its bytes', () => {
    const { seen, client, server } = track();
    client(parse('', 'selec 1'), flush);
    const error = errorResponse('syntax error');
    server(error);
    // The client goes on; the server skips everything up to the Sync.
    client(bind('', '', []), execute(), sync);
    server(ready('I'));
    expect(seen.map((s) => [s.sql, s.error, s.wireBytes, s.status])).toEqual([
      ['selec 1', 'syntax error (SQLSTATE 22012)', error.length + 6, 'I'],
    ]);
  });

  it('a later error arriving between the answers and the Sync never replaces a statement’s own', () => {
    const { seen, client, server } = track();
    client(parse('', 'select 1/0'), bind('', '', []), execute(), flush);
    const own = errorResponse('division by zero');
    const later = errorResponse('later');
    server(parseComplete, bindComplete, own, later);
    client(sync);
    server(ready('I'));
    expect(seen.map((s) => [s.error, s.wireBytes])).toEqual([['division by zero (SQLSTATE 22012)', 10 + own.length + later.length + 6]]);
  });

  it('early responses (before their Execute is sent) are that Execute’s', () => {
    const { seen, client, server } = track();
    client(parse('', 'select 1'), flush);
    server(parseComplete);
    client(bind('', '', []), flush);
    server(bindComplete);
    client(execute(), sync);
    server(row('1'), complete('SELECT 1'), ready('I'));
    // Carried messages that are not errors leave the statement without one.
    expect(seen.map((s) => [s.sql, s.rows, s.wireBytes, s.error])).toEqual([['select 1', 1, 5 + 5 + 12 + 14 + 6, null]]);
  });

  it('a response before the second Execute of a pipeline is its own, not the first’s', () => {
    const { seen, client, server } = track();
    client(parse('', 'select 1'), bind('', '', []), execute(), flush);
    server(parseComplete, bindComplete, complete('SELECT 0'));
    client(parse('', 'select 2'), flush);
    server(parseComplete);
    client(bind('', '', []), execute(), sync);
    server(bindComplete, complete('SELECT 0'), ready('I'));
    expect(seen.map((s) => [s.sql, s.wireBytes])).toEqual([
      ['select 1', 5 + 5 + 14],
      ['select 2', 5 + 5 + 14 + 6],
    ]);
  });

  it('an early response is the next Execute’s even when more of the pipeline follows', () => {
    const { seen, client, server } = track();
    client(parse('', 'select 1'), flush);
    server(parseComplete);
    client(bind('', '', []), execute(), parse('', 'select 2'), bind('', '', []), execute(), sync);
    server(bindComplete, complete('SELECT 0'), parseComplete, bindComplete, complete('SELECT 0'), ready('I'));
    expect(seen.map((s) => [s.sql, s.wireBytes])).toEqual([
      ['select 1', 5 + 5 + 14],
      ['select 2', 5 + 5 + 14 + 6],
    ]);
  });

  it('a Sync that executed nothing is one statement named by what it parsed, or /* sync */', () => {
    const { seen, client, server } = track();
    const prepare = [parse('a', 'select 1'), parse('b', 'select 2'), describeMessage('S', 'a'), sync];
    client(...prepare);
    const answer = [parseComplete, parseComplete, parameterDescription([]), noData];
    server(...answer, ready('I'));
    // The next cycle starts its own list of parsed SQL.
    client(parse('c', 'select 3'), sync);
    server(parseComplete, ready('I'));
    const describeOnly = [describeMessage('S', 'a'), sync];
    client(...describeOnly);
    const described = [parameterDescription([23, 25]), noData];
    server(...described, ready('I'));
    expect(seen.map((s) => [s.sql, s.params, s.rows, s.command, s.error, s.wireBytes, s.sentBytes, s.startsRoundTrip])).toEqual([
      ['select 1;\nselect 2', [], 0, null, null, len(...answer) + 6, len(...prepare), true],
      ['select 3', [], 0, null, null, 11, len(parse('c', 'select 3'), sync), true],
      ['/* sync */', [], 0, null, null, len(...described) + 6, len(...describeOnly), true],
    ]);
  });

  it('responses to a Describe, a Close or during a Flush before the Sync belong to that cycle', () => {
    const { seen, client, server } = track();
    client(describeMessage('S', 's'));
    const described = [parameterDescription([23]), noData];
    server(...described);
    client(sync);
    server(ready('I'));
    client(close('S', 's'));
    server(closeComplete);
    client(sync);
    server(ready('I'));
    client(flush);
    server(notice('flushed'));
    client(sync);
    server(ready('I'));
    expect(seen.map((s) => [s.sql, s.wireBytes, s.sentBytes])).toEqual([
      ['/* sync */', len(...described) + 6, len(describeMessage('S', 's'), sync)],
      ['/* sync */', 5 + 6, len(close('S', 's'), sync)],
      ['/* sync */', notice('flushed').length + 6, 10],
    ]);
  });

  it('a ReadyForQuery for a cycle with no statement reports nothing and the next cycle is measured alone', () => {
    const { seen, client, server, tracker } = track();
    client(parse('', 'select 1'));
    server(ready('I'));
    expect([seen.length, tracker.outstanding]).toEqual([0, 0]);
    client(sync);
    server(ready('I'));
    expect(seen.map((s) => [s.sql, s.wireBytes])).toEqual([['/* sync */', 6]]);
  });

  it('PortalSuspended answers an Execute with a row limit; the next Execute of the portal goes on', () => {
    const inFlight = { count: 0 };
    const { seen, client, server } = track({ sharedInFlight: inFlight });
    client(parse('', 'select * from t'), bind('', '', []), execute('', 1), execute('', 1), sync);
    server(parseComplete, bindComplete, row('1'), portalSuspended);
    expect(inFlight.count).toBe(1);
    server(row('2'), complete('SELECT 1'), ready('I'));
    expect(seen.map((s) => [s.sql, s.rows, s.command, s.error, s.status, s.wireBytes])).toEqual([
      ['select * from t', 1, null, null, 'T', 5 + 5 + 12 + 5],
      ['select * from t', 1, 'SELECT 1', null, 'I', 12 + 14 + 6],
    ]);
  });

  it('EmptyQueryResponse answers an Execute of an empty statement', () => {
    const inFlight = { count: 0 };
    const { seen, client, server } = track({ sharedInFlight: inFlight });
    client(parse('', ''), bind('', '', []), execute(), parse('', 'select 1'), bind('', '', []), execute(), sync);
    server(parseComplete, bindComplete, emptyQuery);
    expect(inFlight.count).toBe(1);
    server(parseComplete, bindComplete, complete('SELECT 0'), ready('I'));
    expect(seen.map((s) => [s.sql, s.command, s.wireBytes])).toEqual([
      ['', null, 15],
      ['select 1', 'SELECT 0', 10 + 14 + 6],
    ]);
  });
});

describe('COPY', () => {
  it('FROM STDIN: the streamed rows are sent bytes of the COPY statement', () => {
    const { seen, client, server } = track();
    const q = query('copy t from stdin');
    client(q);
    server(copyInResponse);
    const data = [copyData('1\ta\n'), copyData('2\tb\n'), copyDone];
    client(...data);
    server(complete('COPY 2'), ready('I'));
    expect(seen.map((s) => [s.sql, s.rows, s.sentBytes, s.wireBytes, s.command])).toEqual([
      ['copy t from stdin', 0, len(q, ...data), copyInResponse.length + 12 + 6, 'COPY 2'],
    ]);
  });

  it('FROM STDIN with the extended protocol: the Sync after the data is the statement’s too', () => {
    const { seen, client, server } = track();
    const start = [parse('', 'copy t from stdin'), bind('', '', []), execute()];
    client(...start, sync);
    server(parseComplete, bindComplete, copyInResponse);
    const data = [copyData('1\n'), copyFail('stop')];
    client(...data);
    server(errorResponse('COPY from stdin failed: stop'), ready('I'));
    expect(seen.map((s) => [s.sentBytes, s.error])).toEqual([[len(...start, sync, ...data), 'COPY from stdin failed: stop (SQLSTATE 22012)']]);
  });

  it('FROM STDIN cut off mid-stream: the rows sent so far are the dropped statement’s', () => {
    const { tracker, client, server } = track();
    const q = query('copy t from stdin');
    client(q);
    server(copyInResponse);
    const data = [copyData('1\ta\n'), copyData('2\tb\n')];
    client(...data);
    const sent: number[] = [];
    tracker.abandon((s) => sent.push(s.sentBytes));
    expect(sent).toEqual([len(q, ...data)]);
  });

  it('COPY data with nothing running is carried to the next statement', () => {
    const { seen, client, server } = track();
    const stray = copyData('x');
    client(stray);
    const q = query('select 1');
    client(q);
    server(ready('I'));
    expect(seen.map((s) => s.sentBytes)).toEqual([stray.length + q.length]);
  });

  it('TO STDOUT: one row per CopyData, its bytes the payload', () => {
    const { seen, client, server } = track();
    client(query('copy t to stdout'));
    const out = [copyOutResponse, copyData('1\ta\n'), copyData('22\tbb\n'), copyDone, complete('COPY 2')];
    server(...out, ready('I'));
    expect(seen.map((s) => [s.rows, s.payloadBytes, s.wireBytes, s.command])).toEqual([[2, 4 + 6, len(...out) + 6, 'COPY 2']]);
  });
});

describe('FunctionCall', () => {
  it('names known functions, counts the result as payload (NULL and empty are 0 bytes)', () => {
    const { seen, client, server } = track();
    const calls = [functionCall(954, 0), functionCall(99999, 1), functionCall(964, 2), functionCall(715, 3)];
    const results = [functionResult(Buffer.from('hello')), functionResult(null), functionResult(Buffer.alloc(0)), functionResult(Buffer.from([0, 0, 0x40, 0]))];
    calls.forEach((call, i) => {
      client(call);
      server(results[i]!, ready('T'));
    });
    expect(seen.map((s) => s.params)).toEqual([[], [], [], []]);
    expect(seen.map((s) => [s.sql, s.rows, s.payloadBytes, s.wireBytes, s.sentBytes, s.status, s.startsRoundTrip])).toEqual([
      ['/* FunctionCall loread (oid 954) */', 0, 5, 9 + 5 + 6, calls[0]!.length, 'T', true],
      ['/* FunctionCall oid 99999 */', 0, 0, 9 + 6, calls[1]!.length, 'T', true],
      ['/* FunctionCall lo_unlink (oid 964) */', 0, 0, 9 + 6, calls[2]!.length, 'T', true],
      ['/* FunctionCall lo_create (oid 715) */', 0, 4, 9 + 4 + 6, calls[3]!.length, 'T', true],
    ]);
  });
});

describe('abandon', () => {
  it('drops every unreported statement, says which the server had answered, and gives back only the unanswered share', () => {
    const inFlight = { count: 0 };
    const { tracker, clock, client, server, seen } = track({ sharedInFlight: inFlight });
    clock.t = 1;
    client(parse('', 'select 1'), bind('', '', []), execute(), parse('', 'select 2'), bind('', '', []), execute(), sync);
    client(query('select 3'));
    clock.t = 2;
    server(parseComplete, bindComplete, complete('SELECT 0'));
    expect([inFlight.count, tracker.outstanding]).toEqual([2, 3]);
    clock.t = 7;
    const dropped: [string, boolean, number][] = [];
    expect(tracker.abandon((s, answered) => dropped.push([s.sql, answered, s.doneAt]))).toBe(3);
    expect(dropped).toEqual([
      ['select 1', true, 2],
      ['select 2', false, 7],
      ['select 3', false, 7],
    ]);
    expect([inFlight.count, tracker.outstanding, seen.length]).toEqual([0, 0, 0]);
    // Without a callback, and with nothing left.
    expect(tracker.abandon()).toBe(0);
    client(query('select 4'));
    expect(tracker.abandon()).toBe(1);
    expect(inFlight.count).toBe(0);
    // Late responses of the dropped statements belong to nothing.
    server(ready('I'));
    expect(seen).toEqual([]);
  });
});

describe('session end', () => {
  it('reports FATAL and PANIC errors (by V, else the localised S), whether a statement runs or not', () => {
    const fatal: string[] = [];
    const { client, server, seen } = track({ onFatal: (e) => fatal.push(e) });
    server(errorFields([['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']]));
    client(query('select 1'));
    server(errorFields([['S', 'ERROR'], ['V', 'ERROR'], ['C', '22012'], ['M', 'division by zero']]));
    // German: the localised severity differs, the V field does not.
    server(errorFields([['S', 'PANIK'], ['V', 'PANIC'], ['C', 'XX000'], ['M', 'kaputt']]));
    // Old servers send no V: the S field decides.
    server(errorFields([['S', 'FATAL'], ['M', 'no V here']]));
    server(errorFields([['S', 'FATAL'], ['V', 'ERROR'], ['M', 'V wins']]));
    server(errorFields([['V', 'PANIC'], ['S', 'ERROR'], ['M', 'V wins, wherever it is']]));
    server(ready('I'));
    expect(fatal).toEqual([
      'terminating connection due to administrator command (SQLSTATE 57P01)',
      'kaputt (SQLSTATE XX000)',
      'no V here',
      'V wins, wherever it is',
    ]);
    // The last error is the statement's.
    expect(seen.map((s) => s.error)).toEqual(['V wins, wherever it is']);
  });

  it('reads an ErrorResponse missing its terminator without hanging', () => {
    const fatal: string[] = [];
    const { client, server, seen } = track({ onFatal: (e) => fatal.push(e) });
    client(query('select 1'));
    // No V field either: the severity is looked for up to the end of the body.
    server(msg('E', 'SFATAL', Buffer.from('Mno end')), ready('I'));
    expect(fatal).toEqual(['no end']);
    expect(seen.map((s) => s.error)).toEqual(['no end']);
  });

  it('tracks FATAL errors without an onFatal callback, and calls onTerminate on Terminate', () => {
    let terminated = 0;
    const { client, server, seen } = track({ onTerminate: () => (terminated += 1) });
    client(query('select 1'));
    server(errorFields([['S', 'FATAL'], ['V', 'FATAL'], ['M', 'bye']]), ready('I'));
    expect(terminated).toBe(0);
    client(terminate);
    expect(terminated).toBe(1);
    expect(seen.map((s) => s.error)).toEqual(['bye']);
    // Terminate without a callback is just bytes.
    const quiet = track();
    quiet.client(terminate);
    expect(quiet.tracker.outstanding).toBe(0);
  });
});

describe('value capture', () => {
  const columns = [
    { name: 'id', typeOid: 23, format: 0 },
    { name: 'doc', typeOid: 3802, format: 1 },
  ];

  it('keeps column names, types, formats and whole DataRow bodies of every result set', () => {
    const { seen, client, server } = track({ captureValues: true });
    client(query('select id, doc from a; select n from b'));
    const t1 = rowDescription(columns);
    const t2 = rowDescription([{ name: 'n', ...text }]);
    const rows1 = [row('1', '{}'), row('2', null)];
    const rows2 = [row('héllo')];
    server(t1, ...rows1, complete('SELECT 2'), t2, ...rows2, complete('SELECT 1'), ready('I'));
    const s = seen[0]!;
    expect(s.values).toEqual({
      results: [
        { columns, rows: rows1.map((r) => r.subarray(5)) },
        { columns: [{ name: 'n', typeOid: 25, format: 0 }], rows: rows2.map((r) => r.subarray(5)) },
      ],
      truncated: false,
      bytes: len(t1, ...rows1, t2, ...rows2) - 5 * 5,
    });
    expect(s.values!.results[0]!.rows.map(dataRowValues).map((r) => r.map((v) => v?.toString()))).toEqual([
      ['1', '{}'],
      ['2', undefined],
    ]);
    // Capturing changes none of the measures.
    expect([s.rows, s.payloadBytes, s.wireBytes]).toEqual([3, 1 + 2 + 1 + 0 + 6, len(t1, ...rows1, t2, ...rows2) + 14 + 14 + 6]);
  });

  it('keeps copies: the socket chunk may be reused after it was tracked', () => {
    const { seen, tracker, client } = track({ captureValues: true });
    client(query('select 1'));
    const chunk = Buffer.concat([rowDescription([{ name: 'x', ...text }]), row('abc'), complete('SELECT 1'), ready('I')]);
    tracker.fromServer(chunk);
    chunk.fill(0);
    expect(seen[0]!.values!.results[0]!.rows[0]!.toString('latin1')).toBe('\0\u0001\0\0\0\u0003abc');
    expect(seen[0]!.values!.results[0]!.columns[0]!.name).toBe('x');
  });

  it('keeps rows that come without a RowDescription (a Describe skipped) under no columns', () => {
    const { seen, client, server } = track({ captureValues: true });
    client(bind('', 's', []), execute(), sync);
    server(bindComplete, row('7'), complete('SELECT 1'), ready('I'));
    expect(seen[0]!.values).toEqual({ results: [{ columns: [], rows: [row('7').subarray(5)] }], truncated: false, bytes: 7 });
  });

  it('stops at the per-statement limit: whole messages only, then nothing more, but every row still counted', () => {
    const t = rowDescription([{ name: 'v', ...text }]);
    const r = row('0123456789');
    // Body bytes: the RowDescription's, then 16 per row.
    const tBody = t.length - 5;
    const rBody = r.length - 5;
    const run = (limit: number) => {
      const { seen, client, server } = track({ captureValues: true, captureLimitBytes: limit });
      client(query('select v from t'));
      server(t, r, r, r, complete('SELECT 3'), ready('I'));
      const s = seen[0]!;
      expect([s.rows, s.payloadBytes]).toEqual([3, 30]);
      return [s.values!.results.map((x) => x.rows.length), s.values!.truncated, s.values!.bytes];
    };
    expect(run(tBody + 3 * rBody)).toEqual([[3], false, tBody + 3 * rBody]);
    expect(run(tBody + 3 * rBody - 1)).toEqual([[2], true, tBody + 2 * rBody]);
    expect(run(tBody + rBody)).toEqual([[1], true, tBody + rBody]);
    expect(run(tBody)).toEqual([[0], true, tBody]);
    // Not even the RowDescription fits: no result set at all.
    expect(run(tBody - 1)).toEqual([[], true, 0]);
    expect(run(0)).toEqual([[], true, 0]);
    // A negative limit is no room at all.
    expect(run(-50)).toEqual([[], true, 0]);
  });

  it('after a truncated RowDescription, later rows and result sets are not kept either', () => {
    const { seen, client, server } = track({ captureValues: true, captureLimitBytes: 20 });
    client(query('select 1; select 2'));
    const wide = rowDescription([{ name: 'a_rather_long_column_name', ...text }]);
    const small = rowDescription([{ name: 'b', ...text }]);
    server(wide, row('1'), complete('SELECT 1'), small, row('2'), complete('SELECT 1'), ready('I'));
    expect(seen[0]!.values).toEqual({ results: [], truncated: true, bytes: 0 });
    expect(seen[0]!.rows).toBe(2);
  });

  it('after a truncated row, a later RowDescription that would fit is not kept', () => {
    const small = rowDescription([{ name: 'b', ...text }]);
    const big = row('x'.repeat(40));
    const limit = small.length - 5 + 10;
    const { seen, client, server } = track({ captureValues: true, captureLimitBytes: limit });
    client(query('select 1; select 2'));
    server(small, big, complete('SELECT 1'), msg('T', Buffer.from([0, 0])), complete('SELECT 0'), ready('I'));
    expect(seen[0]!.values).toEqual({ results: [{ columns: [{ name: 'b', typeOid: 25, format: 0 }], rows: [] }], truncated: true, bytes: small.length - 5 });
  });

  it('after truncation, not even a zero-column row (select from t) is kept', () => {
    const { seen, client, server } = track({ captureValues: true, captureLimitBytes: 1 });
    client(query('select from t'));
    const none = msg('T', Buffer.from([0, 0]));
    const empty = msg('D', Buffer.from([0, 0]));
    server(none, empty, empty, complete('SELECT 2'), ready('I'));
    expect(seen[0]!.values).toEqual({ results: [], truncated: true, bytes: 0 });
    expect([seen[0]!.rows, seen[0]!.payloadBytes]).toEqual([2, 0]);
    // With room, both are kept.
    const roomy = track({ captureValues: true });
    roomy.client(query('select from t'));
    roomy.server(none, empty, complete('SELECT 1'), ready('I'));
    expect(roomy.seen[0]!.values).toEqual({ results: [{ columns: [], rows: [Buffer.from([0, 0])] }], truncated: false, bytes: 4 });
  });

  it('the limit is per statement, and by default large enough for a 1 MiB value', () => {
    const { seen, client, server } = track({ captureValues: true });
    const big = row('z'.repeat(1024 * 1024));
    client(query('select 1'), query('select 2'));
    server(big, ready('I'), big, ready('I'));
    expect(seen.map((s) => [s.values!.truncated, s.values!.bytes])).toEqual([
      [false, big.length - 5],
      [false, big.length - 5],
    ]);
    expect(DEFAULT_CAPTURE_LIMIT_BYTES).toBe(4 * 1024 * 1024);
    const tight = track({ captureValues: true, captureLimitBytes: big.length - 5 });
    tight.client(query('select 1'), query('select 2'));
    tight.server(big, big, ready('I'), big, ready('I'));
    expect(tight.seen.map((s) => [s.values!.results[0]!.rows.length, s.values!.truncated])).toEqual([
      [1, true],
      [1, false],
    ]);
  });

  it('captures only the statements whose tag says so', () => {
    const { seen, state, client, server } = track<string>({ captureValues: (tag) => tag === 'analyse' });
    state.tag = 'analyse';
    client(query('select 1'));
    state.tag = 'skip';
    client(query('select 2'));
    server(row('1'), ready('I'), row('2'), ready('I'));
    expect(seen.map((s) => [s.tag, s.values?.results[0]?.rows.length ?? 'none'])).toEqual([
      ['analyse', 1],
      ['skip', 'none'],
    ]);
    expect('values' in seen[1]!).toBe(false);
    const off = track({ captureValues: false });
    off.client(query('select 1'));
    off.server(row('1'), ready('I'));
    expect('values' in off.seen[0]!).toBe(false);
  });

  it('gives the same values however the server stream is cut', () => {
    const stream = Buffer.concat([rowDescription(columns), row('1', '{"a":1}'), row(null, null), complete('SELECT 2'), ready('I')]);
    const whole = track({ captureValues: true });
    whole.client(query('select'));
    whole.tracker.fromServer(stream);
    const bytewise = track({ captureValues: true });
    bytewise.client(query('select'));
    for (const b of stream) bytewise.tracker.fromServer(Buffer.from([b]));
    expect(bytewise.seen).toEqual(whole.seen);
    expect(whole.seen[0]!.values!.results[0]!.rows).toHaveLength(2);
  });
});

describe('helpers', () => {
  it('dataRowValues splits a DataRow body into values and NULLs', () => {
    const body = row('a', null, '', 'ünï').subarray(5);
    expect(dataRowValues(body).map((v) => (v === null ? null : v.toString()))).toEqual(['a', null, '', 'ünï']);
    expect(dataRowValues(Buffer.from([0, 0]))).toEqual([]);
  });

  it('parseErrorMessage gives the M field and the SQLSTATE, or the message alone', () => {
    const body = (fields: [string, string][]) => errorFields(fields).subarray(5);
    expect(parseErrorMessage(body([['S', 'ERROR'], ['C', '42P01'], ['M', 'relation "nope" does not exist'], ['P', '15']]))).toBe(
      'relation "nope" does not exist (SQLSTATE 42P01)',
    );
    expect(parseErrorMessage(body([['M', 'no code']]))).toBe('no code');
    expect(parseErrorMessage(body([]))).toBe('');
    // A body cut before its terminator still reads the fields it has.
    expect(parseErrorMessage(Buffer.from('Mcut\0C12345'))).toBe('cut (SQLSTATE 12345)');
  });

  it('reads each message within its own bytes when the next one follows in the same chunk', () => {
    const { seen, client, server } = track();
    // A Parse whose SQL has no terminator: its text ends with its message, not at the Bind's NUL.
    const unterminated = msg('P', '', Buffer.from('select $1'), Buffer.from([0, 0]).subarray(0, 0));
    client(unterminated, bind('', '', ['v']), execute(), sync);
    server(parseComplete, bindComplete, complete('SELECT 0'), ready('I'));
    expect(seen.map((s) => [s.sql, s.params])).toEqual([['select $1', ['v']]]);
  });

  it('decodes repeated SQL and command tags once, never confusing texts of the same length', () => {
    const { seen, client, server } = track();
    const long = `select '${'é'.repeat(9000)}'`;
    for (const sql of ['select 1', 'select 1', 'select 2', 'select 1', long, long, 'select 2']) {
      client(query(sql));
      server(complete(sql === 'select 2' ? 'SELECT 2' : 'SELECT 1'), ready('I'));
      client(parse('', sql), bind('', '', []), execute(), sync);
      server(parseComplete, bindComplete, complete(sql === 'select 2' ? 'SELECT 2' : 'SELECT 1'), ready('I'));
    }
    expect(seen.map((s) => s.sql)).toEqual(['select 1', 'select 1', 'select 2', 'select 1', long, long, 'select 2'].flatMap((q) => [q, q]));
    expect(seen.map((s) => s.command)).toEqual(
      ['SELECT 1', 'SELECT 1', 'SELECT 2', 'SELECT 1', 'SELECT 1', 'SELECT 1', 'SELECT 2'].flatMap((c) => [c, c]),
    );
  });

  it('a Bind cut short, or a DataRow without its field count, is a protocol error, not a read of the next message', () => {
    // No parameter count, or fewer length words than parameters: the Sync after it is not read as either.
    expect(() => track().client(msg('B', '', ''), sync)).toThrow('wire protocol: Bind of 2 bytes ends before its parameters do');
    expect(() => track().client(msg('B', '', '', int16(0), int16(2), int32(1), 'x'), sync)).toThrow(
      'wire protocol: Bind of 12 bytes ends before its parameters do',
    );
    // A value announcing more bytes than its message holds is read up to the message's end.
    const cut = track();
    cut.client(parse('', 'select $1'), msg('B', '', '', int16(0), int16(1), int32(9), Buffer.from('ab')), execute(), sync);
    cut.server(parseComplete, bindComplete, complete('SELECT 1'), ready('I'));
    expect(cut.seen.map((s) => s.params)).toEqual([['ab']]);
    const { client, server } = track();
    client(query('select'));
    expect(() => server(msg('D', [0]), complete('SELECT 1'), ready('I'))).toThrow('wire protocol: DataRow of 1 bytes has no field count');
  });

  it('peekOversizedClientMessage looks at the client stream without tracking it', () => {
    const { tracker } = track();
    const small = query('select 1');
    const big = query(`select '${'x'.repeat(100)}'`);
    expect(tracker.peekOversizedClientMessage(Buffer.concat([small, big]), 64)).toEqual({ offset: small.length, wireBytes: big.length });
    expect(tracker.outstanding).toBe(0);
  });
});
