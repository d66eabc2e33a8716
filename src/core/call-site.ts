/**
 * Call sites: where in the user's code a statement was sent — `file:line` of the first stack
 * frame outside ctxbench, knex and pg.
 *
 * Capture is the only part on the measured path, so it does as little as it can: one
 * `Error.captureStackTrace` into a plain object, with the depth bounded ({@link CALL_SITE_DEPTH}
 * frames), inside the driver's `query` (V8's async stack traces carry the user's `await`s through
 * knex's runner to there), and once the driver has written the statement. A capture there walks
 * a stack whose code and data the wait for the previous answer has left cold, which makes it
 * several times dearer than in a loop (≈ 10–20 µs per statement on a busy 2-core machine, most of
 * it fixed, whatever the depth): before the write it would delay the statement by as much; after
 * it, it runs while the server works. V8 formats the stack only when it is first read, which
 * {@link resolveCallSite} does once the recording is read, not while the code runs.
 * Reading the formatted text rather than structured CallSite objects keeps source maps: under
 * tsx or Vitest the lines are those of the `.ts` file the user wrote.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A captured stack not yet resolved: opaque outside this module.
 *
 * @example
 * const site: PendingCallSite = captureCallSite();
 */
export interface PendingCallSite {
  readonly stack?: string;
}

/**
 * Frames captured per statement (`Error.stackTraceLimit` while capturing). A knex query reaches pg's `query` through about a dozen
 * frames of knex (its runner, executor and dialect), so the user's frame sits at 10–12; the rest
 * is room for a `Promise.all` and the like. Each frame costs the measured code a fraction of a
 * microsecond, so the depth is a bound, not a convenience.
 *
 * @example
 * captureCallSite().stack?.split('\n').length; // at most CALL_SITE_DEPTH + 1
 */
export const CALL_SITE_DEPTH = 16;

/**
 * Frames captured where the user's call enters knex's query or ctxbench's `db.query` directly:
 * the user's frame is then the 6th at most (knex's runner above it, a `Promise.all`), so a
 * shorter stack does, and costs the measured code less than pg's {@link CALL_SITE_DEPTH}.
 *
 * @example
 * captureCallSite(undefined, ENTRY_DEPTH);
 */
export const ENTRY_DEPTH = 8;

/** ctxbench's own root (this file is `src/core/call-site.ts` or `dist/core/call-site.js`). */
const OWN_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OWN_CODE = [path.join(OWN_ROOT, 'src') + path.sep, path.join(OWN_ROOT, 'dist') + path.sep];
/** The built-in strategies are ctxbench's code, but they are what a run measures: their lines are call sites. */
const OWN_STRATEGIES = OWN_CODE.map((dir) => path.join(dir, 'core', 'strategies') + path.sep);
/** Drivers and their helpers: `knex`, its pool `tarn`, and `pg`, `pg-pool`, `pg-protocol`, `pg-cursor`… */
const LIBRARY = /[\\/]node_modules[\\/](?:knex|tarn|pg|pg-[^\\/]+)[\\/]/;

/**
 * Captures the current stack (at most `depth` frames, default {@link CALL_SITE_DEPTH}), leaving
 * out `below` and everything it called. Cheap: nothing is formatted until {@link resolveCallSite}.
 *
 * @example
 * const site = captureCallSite();
 * resolveCallSite(site); // => 'src/build.ts:12'
 */
export function captureCallSite(below?: (...args: never[]) => unknown, depth: number = CALL_SITE_DEPTH): PendingCallSite {
  return fillCallSite({}, below ?? captureCallSite, depth);
}

/**
 * Captures the current stack below `below` into `holder` (at most `depth` frames): a holder the
 * socket tap took while the driver wrote, filled now that the statement is on its way.
 */
function fillCallSite(holder: object, below: (...args: never[]) => unknown, depth: number): PendingCallSite {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = depth;
  try {
    Error.captureStackTrace(holder, below);
  } finally {
    Error.stackTraceLimit = limit;
  }
  return holder;
}

/**
 * The `path:line` of the first frame of `site` outside ctxbench, knex, pg and Node's
 * internals — the path relative to `cwd` when it is inside it — or null when every captured
 * frame is theirs (a statement ctxbench sent itself, or one a driver queued behind another).
 *
 * @example
 * resolveCallSite(captureCallSite()); // => 'test/strategy.ts:7'
 */
export function resolveCallSite(site: PendingCallSite | null | undefined, cwd: string = process.cwd()): string | null {
  if (site === null || site === undefined) return null;
  let stack: string | undefined;
  try {
    stack = site.stack;
  } catch {
    // A user's Error.prepareStackTrace that throws: no call site rather than a failed run.
    return null;
  }
  if (typeof stack !== 'string') return null;
  if (cwd !== cachedCwd) {
    resolvedLines.clear();
    cachedCwd = cwd;
  }
  let start = stack.indexOf('\n') + 1;
  while (start > 0 && start < stack.length) {
    const end = stack.indexOf('\n', start);
    const line = stack.slice(start, end < 0 ? undefined : end);
    start = end + 1;
    let resolved = resolvedLines.get(line);
    if (resolved === undefined) {
      const frame = frameLocation(line);
      resolved = frame === null || !isUserFile(frame.file) ? null : `${displayPath(frame.file, cwd)}:${frame.line}`;
      // The same few lines recur in every stack of a run: parse each once (bounded).
      if (resolvedLines.size >= RESOLVED_LINES) resolvedLines.clear();
      resolvedLines.set(line, resolved);
    }
    if (resolved !== null) return resolved;
  }
  return null;
}

/** Formatted frames already read, and what they resolved to (null: not the user's). */
const resolvedLines = new Map<string, string | null>();
const RESOLVED_LINES = 10_000;
let cachedCwd = '';

/**
 * The file and line of one formatted stack frame (`    at fn (file:12:3)`, `    at file:12:3`),
 * a `file://` URL as a path; null for a frame without a file of its own (Node's internals,
 * `<anonymous>`, `Promise.all`).
 *
 * @example
 * frameLocation('    at async build (file:///app/src/build.ts:12:7)'); // => { file: '/app/src/build.ts', line: 12 }
 */
export function frameLocation(line: string): { file: string; line: number } | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('at ')) return null;
  // The location follows the function's name in parentheses, else it is the rest; a function
  // name has no ' (' in it, a directory may (`/My App (copy)/x.js`).
  const open = trimmed.endsWith(')') ? trimmed.indexOf(' (') : -1;
  const location = open >= 0 ? trimmed.slice(open + 2, -1) : trimmed.slice(3).replace(/^async /, '');
  const match = /^(.*):(\d+):\d+$/.exec(location);
  if (match === null) return null;
  let file = match[1]!;
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch {
      return null;
    }
  }
  // `node:internal/…`, `<anonymous>`, `native`, `eval at …`: not a file of the user's.
  if (!path.isAbsolute(file)) return null;
  return { file, line: Number(match[2]) };
}

/** Whether a frame's file is the user's code: not a driver's, and not ctxbench's own (but its built-in strategies). */
function isUserFile(file: string): boolean {
  if (LIBRARY.test(file)) return false;
  if (OWN_CODE.some((dir) => file.startsWith(dir))) return OWN_STRATEGIES.some((dir) => file.startsWith(dir));
  return true;
}

function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** The call site of the statement the driver is writing right now (set around a traced `query`). */
let writing: PendingCallSite | null = null;

/**
 * The call site of the statement whose bytes are being written right now: a socket tap reads it
 * while the driver writes, synchronously inside the traced `query` call.
 *
 * @example
 * socket.write = (chunk) => { sites.push(currentCallSite()); … };
 */
export function currentCallSite(): PendingCallSite | null {
  return writing;
}

/** Runs `fn` with `site` as the current call site (restoring the previous one after). */
function withSite<T>(site: PendingCallSite | null, fn: () => T): T {
  const previous = writing;
  writing = site;
  try {
    return fn();
  } finally {
    writing = previous;
  }
}

/** Attached to a query config by a traced `pool.query`, whose callbacks lose the user's stack. */
const SITE = Symbol('ctxbench.callSite');

type QueryFn = (...args: unknown[]) => unknown;
interface Queryable {
  query: QueryFn;
}

/**
 * Makes `client.query` (a pg.Client's) capture its caller's stack while `enabled()` (a recording
 * is open), for a socket tap to read as {@link currentCallSite}. pg writes a statement inside
 * `query` when the connection is idle; a statement it queues behind another is written later by
 * `submit`, which gets the same call site. The tap takes the call site's holder as pg writes; the
 * stack goes into it as soon as `query` has returned from pg, so the statement is already on its way
 * (see the module's note). Returns the function that puts `query` back (unless someone replaced it
 * after us).
 *
 * @example
 * const untrace = traceCallSites(client, () => recorder.recording);
 * await client.query('select 1');
 * untrace();
 */
export function traceCallSites(client: object, enabled: () => boolean): () => void {
  const target = client as Queryable & { _queryQueue?: unknown[]; queryQueue?: unknown[] };
  const original = target.query;
  const ownQuery = Object.prototype.hasOwnProperty.call(target, 'query');
  const traced = function tracedQuery(this: typeof target, ...args: unknown[]): unknown {
    if (!enabled()) return original.apply(this, args);
    const config = args[0] as { [SITE]?: PendingCallSite } | null | undefined;
    // Captured already where the call entered (knex's query, a pool's, ctxbench's db.query)?
    const given = (typeof config === 'object' && config !== null ? config[SITE] : undefined) ?? writing;
    const site: PendingCallSite = given ?? {};
    const queue = this._queryQueue ?? this.queryQueue;
    const queued = Array.isArray(queue) ? queue.length : -1;
    let result: unknown;
    try {
      result = withSite(site, () => original.apply(this, args));
    } finally {
      // Not before: the capture would delay the statement; now it overlaps the server's work.
      if (given === null || given === undefined) fillCallSite(site, tracedQuery, CALL_SITE_DEPTH);
    }
    // Queued behind a statement in flight: it is written when pg submits it.
    if (Array.isArray(queue) && queue.length > queued) {
      const query = queue[queue.length - 1] as { submit?: QueryFn } | undefined;
      const submit = query?.submit;
      if (typeof submit === 'function') {
        query!.submit = function (this: unknown, ...rest: unknown[]) {
          return withSite(site, () => submit.apply(this, rest));
        };
      }
    }
    return result;
  };
  target.query = traced;
  return () => {
    if (target.query !== traced) return;
    if (ownQuery) target.query = original;
    else delete (target as { query?: QueryFn }).query;
  };
}

/**
 * A pg query config for `sql` and `params` that carries `site` to a traced client's `query`
 * (for callers that capture the site before an `await` that would lose it).
 *
 * @example
 * const site = captureCallSite(query, ENTRY_DEPTH);
 * await client.query(queryWithCallSite('select $1::int', [1], site));
 */
export function queryWithCallSite(sql: string, params: unknown[] | undefined, site: PendingCallSite): object {
  return params === undefined ? { text: sql, [SITE]: site } : { text: sql, values: params, [SITE]: site };
}

/**
 * Makes `knex.client.query` — where knex's runner hands a compiled query to the driver — capture
 * its caller's stack ({@link ENTRY_DEPTH} frames: five fewer of knex's than pg's `query` sees)
 * for the traced pg client it calls synchronously; as there, the stack is captured once pg has
 * written the statement. Transactions (`knex.transaction`) run on a client of their own, which
 * pg's own tracing covers. Returns the function that puts it back.
 *
 * @example
 * const untrace = traceKnexCallSites(knex, () => recorder.recording);
 */
export function traceKnexCallSites(knex: { client: object }, enabled: () => boolean): () => void {
  const target = knex.client as Queryable;
  const original = target.query;
  if (typeof original !== 'function') return () => undefined;
  const ownQuery = Object.prototype.hasOwnProperty.call(target, 'query');
  const traced = function tracedKnexQuery(this: unknown, ...args: unknown[]): unknown {
    if (!enabled()) return original.apply(this, args);
    const site: PendingCallSite = {};
    try {
      return withSite(site, () => original.apply(this, args));
    } finally {
      fillCallSite(site, tracedKnexQuery, ENTRY_DEPTH);
    }
  };
  target.query = traced;
  return () => {
    if (target.query !== traced) return;
    if (ownQuery) target.query = original;
    else delete (target as { query?: QueryFn }).query;
  };
}

/**
 * Makes `pool.query` (a pg.Pool's) capture its caller's stack and hand it to the traced client
 * that runs the statement: the pool calls `client.query` from its own callbacks, where the
 * user's frames are gone — on a later tick, so here the capture comes before the statement is
 * written, unlike a client's. Only plain configs (SQL text, or an object literal) carry it; others
 * go through unchanged. Returns the function that puts `query` back.
 *
 * @example
 * const untrace = tracePoolCallSites(pool, () => recorder.recording);
 */
export function tracePoolCallSites(pool: object, enabled: () => boolean): () => void {
  const target = pool as Queryable;
  const original = target.query;
  const ownQuery = Object.prototype.hasOwnProperty.call(target, 'query');
  const traced = function tracedPoolQuery(this: unknown, ...args: unknown[]): unknown {
    if (!enabled()) return original.apply(this, args);
    const config = args[0];
    if (typeof config === 'string') {
      args[0] = { text: config, [SITE]: captureCallSite(tracedPoolQuery, ENTRY_DEPTH) };
    } else if (typeof config === 'object' && config !== null && Object.getPrototypeOf(config) === Object.prototype) {
      if (typeof (config as { submit?: unknown }).submit !== 'function') {
        // A copy: the caller's object may be in use by another query at the same time.
        args[0] = { ...(config as object), [SITE]: captureCallSite(tracedPoolQuery, ENTRY_DEPTH) };
      }
    }
    return original.apply(this, args);
  };
  target.query = traced;
  return () => {
    if (target.query !== traced) return;
    if (ownQuery) target.query = original;
    else delete (target as { query?: QueryFn }).query;
  };
}

/**
 * Gives each statement of `timed` the call site of the statement at the same position of
 * `untimed` — another build of the same turn, whose call sites were captured — when both sent
 * the same SQL there; the others keep theirs. A build is deterministic in what it sends, so the
 * timed builds need not pay for capturing.
 *
 * @example
 * copyCallSites(warmUp.statements, measured.statements);
 */
export function copyCallSites(
  untimed: readonly { sql: string; callSite?: string | null }[],
  timed: { sql: string; callSite?: string | null }[],
): void {
  timed.forEach((s, i) => {
    const twin = untimed[i];
    if (twin !== undefined && twin.sql === s.sql && (s.callSite === null || s.callSite === undefined))
      s.callSite = twin.callSite ?? null;
  });
}
