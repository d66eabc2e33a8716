/**
 * The server's side of a measurement: the settings that change what a measurement means, and
 * — where the `pg_stat_statements` extension can be read — the server's own count of calls,
 * execution time and rows for the statements ctxbench measured at the wire.
 *
 * Read-only, like all of ctxbench: nothing here creates the extension or resets its counters.
 * The server's figures come from the difference of two snapshots taken around a measurement.
 */
import type { Knex } from 'knex';
import { fingerprint, initFingerprinting, UNPARSED_PREFIX } from '../analysis/fingerprint.js';
import type { StatementRecord } from '../types.js';

/** The settings {@link serverSettings} reports: those that change timings, plans or what may run. */
export const MEASUREMENT_SETTINGS = [
  'track_io_timing',
  'shared_buffers',
  'work_mem',
  'jit',
  'random_page_cost',
  'effective_cache_size',
  'default_transaction_read_only',
  'statement_timeout',
] as const;

/** A name of {@link MEASUREMENT_SETTINGS}. */
export type MeasurementSetting = (typeof MEASUREMENT_SETTINGS)[number];

/**
 * `server_version` and each setting of {@link MEASUREMENT_SETTINGS} as the server shows it
 * (`128MB`, `on`, `5s`). A setting the server does not have is left out.
 */
export type ServerSettings = Record<string, string>;

/**
 * The server version and the settings that change measurement, as seen by this connection
 * (session settings such as ctxbench's own `statement_timeout` included).
 *
 * @example
 * const settings = await serverSettings(session.control);
 * settings.server_version; // => '15.20 (Debian 15.20-0+deb12u1)'
 * settings.work_mem; // => '4MB'
 */
export async function serverSettings(control: Knex): Promise<ServerSettings> {
  // current_setting(name, true) is null instead of an error for a setting this server lacks.
  const { rows } = await control.raw(
    `select 'server_version' as name, current_setting('server_version') as value
     union all select n, current_setting(n, true) from unnest(?::text[]) as n`,
    [[...MEASUREMENT_SETTINGS]],
  );
  const settings: ServerSettings = {};
  for (const row of rows as { name: string; value: string | null }[]) {
    if (row.value !== null) settings[row.name] = row.value;
  }
  return settings;
}

/** Whether pg_stat_statements can be used, and if not, what to do about it. */
export interface StatStatementsAvailability {
  available: boolean;
  /** `ok` when available; otherwise one line naming the cause and the fix. */
  reason: string;
}

/** Where the extension lives, once known to be readable. */
interface Located {
  available: true;
  reason: string;
  /** The view, schema-qualified and quoted. */
  view: string;
}

/** Marks ctxbench's own catalog reads and snapshots (pg_stat_statements keeps comments), so diffs can leave them out. */
const SNAPSHOT_MARKER = '/* ctxbench: pg_stat_statements snapshot */';

async function locate(control: Knex): Promise<Located | { available: false; reason: string }> {
  const installed = await control.raw(
    `${SNAPSHOT_MARKER} select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'pg_stat_statements'`,
  );
  const schema = (installed.rows[0] as { schema: string } | undefined)?.schema;
  if (schema === undefined) {
    const offered = await control.raw(
      `${SNAPSHOT_MARKER} select 1 from pg_available_extensions where name = 'pg_stat_statements'`,
    );
    return {
      available: false,
      reason:
        offered.rows.length > 0
          ? 'pg_stat_statements is not installed in this database (create extension pg_stat_statements; ' +
            "it also needs shared_preload_libraries = 'pg_stat_statements' and a server restart)"
          : 'pg_stat_statements is not available on this server: its extension files are not installed ' +
            '(embedded PGlite does not ship it)',
    };
  }
  const view = `"${schema.replace(/"/g, '""')}".pg_stat_statements`;
  // The columns the snapshots read: total_exec_time needs pg_stat_statements 1.8 (PostgreSQL 13).
  const probe = `${SNAPSHOT_MARKER} select queryid, query, calls, total_exec_time, rows from ${view} limit 1`;
  try {
    await control.raw(probe);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    // knex prefixes the server's message with the SQL: keep the server's words only.
    const message = e?.message ?? String(error);
    const detail = message.startsWith(`${probe} - `) ? message.slice(probe.length + 3) : message;
    switch (e?.code) {
      case '55000':
        return {
          available: false,
          reason: `pg_stat_statements is installed but not loaded: add it to shared_preload_libraries and restart the server (${detail})`,
        };
      case '42501':
        return {
          available: false,
          reason:
            'pg_stat_statements is not readable by this role: grant execute on function pg_stat_statements(boolean) ' +
            `to it (and pg_read_all_stats to see other roles' statements) (${detail})`,
        };
      case '42703':
        return {
          available: false,
          reason: `pg_stat_statements is too old (total_exec_time needs version 1.8, PostgreSQL 13): alter extension pg_stat_statements update (${detail})`,
        };
      default:
        return { available: false, reason: `pg_stat_statements cannot be read: ${detail}` };
    }
  }
  return { available: true, reason: 'ok', view };
}

/**
 * Whether pg_stat_statements is installed in this database and readable by this role. Never
 * creates the extension: ctxbench does not write.
 *
 * @example
 * const { available, reason } = await statStatementsAvailable(session.control);
 * if (!available) console.error(`server-side statistics unavailable: ${reason}`);
 */
export async function statStatementsAvailable(control: Knex): Promise<StatStatementsAvailability> {
  const located = await locate(control);
  return { available: located.available, reason: located.reason };
}

/** One pg_stat_statements entry of this database and role (summed over top-level and nested). */
export interface StatStatementsEntry {
  /** The server's query id, as text (a bigint). */
  queryId: string;
  /** The server's normalised text of the first statement with this id (constants as `$n`). */
  query: string;
  calls: number;
  /** Total execution time, milliseconds. */
  totalExecMs: number;
  rows: number;
}

/** The counters at one moment, or why they cannot be read. */
export type StatStatementsSnapshot = { available: true; entries: StatStatementsEntry[] } | { available: false; reason: string };

/**
 * Reads this database's pg_stat_statements counters for the current role. Take one before and
 * one after a measurement and give both to {@link diffStatStatements}.
 *
 * @example
 * const before = await snapshotStatStatements(session.control);
 * const { statements } = await session.measure((db) => strategy.build(db, turn));
 * const after = await snapshotStatStatements(session.control);
 * const diff = diffStatStatements(before, after, statements);
 */
export async function snapshotStatStatements(control: Knex): Promise<StatStatementsSnapshot> {
  // The diff fingerprints the server's texts synchronously: have the parser ready by then.
  await initFingerprinting();
  const located = await locate(control);
  if (!located.available) return located;
  // Entries of this database and role only: other databases' and roles' traffic would be noise.
  // Rows of one queryid (top-level and nested, PostgreSQL 14+) are summed.
  const { rows } = await control.raw(
    `${SNAPSHOT_MARKER}
     select queryid::text as query_id, min(query) as query, sum(calls)::float8 as calls,
            sum(total_exec_time)::float8 as total_exec_ms, sum(rows)::float8 as rows
       from ${located.view}
      where dbid = (select oid from pg_database where datname = current_database())
        and userid = (select oid from pg_roles where rolname = current_user)
      group by queryid`,
  );
  return {
    available: true,
    entries: (rows as { query_id: string; query: string; calls: number; total_exec_ms: number; rows: number }[]).map((r) => ({
      queryId: r.query_id,
      query: r.query,
      calls: r.calls,
      totalExecMs: r.total_exec_ms,
      rows: r.rows,
    })),
  };
}

/** How much one entry's counters grew between two snapshots. */
export interface StatStatementsDelta extends StatStatementsEntry {
  /** Mean execution time over the calls of the window, milliseconds. */
  meanExecMs: number;
}

/** The server's figures for one distinct statement shape ctxbench measured. */
export interface StatStatementsMatch {
  /** Our fingerprint. */
  fingerprint: string;
  /** The first statement with this fingerprint, as sent. */
  sql: string;
  /** How many of our statements had this fingerprint, and the rows they received. */
  localCalls: number;
  localRows: number;
  /** Whether any server entry with calls in the window matched. */
  matched: boolean;
  /** How it matched: the normalised text, or (when no text matched) the parser's fingerprint hash. */
  matchedBy: 'text' | 'fingerprint-id' | null;
  /** The matched entries' query ids (several when one of our shapes is several server entries, e.g. IN lists of different lengths). */
  queryIds: string[];
  /** Server's calls, total and mean execution time (ms) and rows in the window, summed over the matched entries. */
  calls: number;
  totalExecMs: number;
  meanExecMs: number;
  rows: number;
}

/** What the server counted for our statements between two snapshots. */
export type StatStatementsDiff =
  | {
      available: true;
      /** One per distinct fingerprint of our statements, in order of first appearance. */
      statements: StatStatementsMatch[];
      /** Entries with calls in the window that match none of our statements (ctxbench's own BEGIN/COMMIT, other clients of this role…). */
      unmatched: StatStatementsDelta[];
    }
  | { available: false; reason: string };

/**
 * The server's calls, time and rows for each distinct statement shape of `statements`, from
 * the growth of pg_stat_statements between `before` and `after`.
 *
 * Matching rule: a server entry matches our fingerprint when their canonical texts are equal.
 * The server's text (constants already `$n`) is put through the same fingerprinting as our
 * statements — PostgreSQL's parser via libpg-query, which uses pg_stat_statements' own
 * normalisation, then placeholders renumbered in order of appearance, IN lists collapsed to
 * `IN (...)`, comments dropped — and both sides are then lower-cased outside quotes with
 * whitespace collapsed (and dropped next to punctuation). This absorbs the differences measured
 * on PostgreSQL 15: its numbering of constants after the statement's own parameters, one
 * entry per IN-list length (summed here), and its keeping the first-seen text of a query id
 * whose later statements differ in case or spacing. When no text matches, the parser's
 * fingerprint hash of both SQL texts is compared instead (it ignores literal values and
 * select-list order). Statements with no SQL (the tracker's `/* sync *\/`) are left out.
 *
 * Entries that appear only in `after` count from zero; an entry whose calls went down was
 * reset in between and counts from zero too.
 *
 * @example
 * const diff = diffStatStatements(before, after, statements);
 * if (diff.available) for (const s of diff.statements) console.log(s.fingerprint, s.calls, s.meanExecMs);
 */
export function diffStatStatements(
  before: StatStatementsSnapshot,
  after: StatStatementsSnapshot,
  statements: readonly StatementRecord[],
): StatStatementsDiff {
  if (!before.available) return { available: false, reason: before.reason };
  if (!after.available) return { available: false, reason: after.reason };

  const previous = new Map(before.entries.map((e) => [e.queryId, e]));
  const deltas: StatStatementsDelta[] = [];
  for (const e of after.entries) {
    const old = previous.get(e.queryId);
    const reset = old === undefined || e.calls < old.calls;
    const calls = reset ? e.calls : e.calls - old.calls;
    if (calls <= 0 || e.query.includes(SNAPSHOT_MARKER)) continue;
    const totalExecMs = reset ? e.totalExecMs : e.totalExecMs - old.totalExecMs;
    deltas.push({
      queryId: e.queryId,
      query: e.query,
      calls,
      totalExecMs,
      rows: reset ? e.rows : e.rows - old.rows,
      meanExecMs: totalExecMs / calls,
    });
  }
  const serverKeys = deltas.map((delta) => {
    const shape = fingerprint(delta.query);
    return { delta, shape, text: canonicalText(shape.text) };
  });

  const local = new Map<string, { sql: string; calls: number; rows: number }>();
  for (const s of statements) {
    if (fingerprint(s.sql).id.startsWith('empty:')) continue;
    const entry = local.get(s.fingerprint);
    if (entry === undefined) local.set(s.fingerprint, { sql: s.sql, calls: 1, rows: s.rows });
    else {
      entry.calls += 1;
      entry.rows += s.rows;
    }
  }

  const used = new Set<StatStatementsDelta>();
  const matches: StatStatementsMatch[] = [];
  for (const [fp, { sql, calls, rows }] of local) {
    const text = canonicalText(fp);
    let matchedBy: StatStatementsMatch['matchedBy'] = 'text';
    let hits = serverKeys.filter((k) => k.text === text);
    if (hits.length === 0) {
      const ours = fingerprint(sql);
      hits = ours.parsed ? serverKeys.filter((k) => k.shape.parsed && k.shape.id === ours.id) : [];
      matchedBy = hits.length === 0 ? null : 'fingerprint-id';
    }
    for (const h of hits) used.add(h.delta);
    const totalExecMs = hits.reduce((sum, h) => sum + h.delta.totalExecMs, 0);
    const serverCalls = hits.reduce((sum, h) => sum + h.delta.calls, 0);
    matches.push({
      fingerprint: fp,
      sql,
      localCalls: calls,
      localRows: rows,
      matched: hits.length > 0,
      matchedBy,
      queryIds: hits.map((h) => h.delta.queryId),
      calls: serverCalls,
      totalExecMs,
      meanExecMs: serverCalls === 0 ? 0 : totalExecMs / serverCalls,
      rows: hits.reduce((sum, h) => sum + h.delta.rows, 0),
    });
  }
  return { available: true, statements: matches, unmatched: deltas.filter((d) => !used.has(d)) };
}

/**
 * The form both sides are compared in: without the unparsed marker, lower-cased outside
 * string literals and quoted identifiers (unquoted SQL is case-insensitive), whitespace
 * collapsed and removed where it touches punctuation.
 *
 * @example
 * canonicalText('SELECT  "Id" FROM t WHERE a = $1') === canonicalText('select "Id" from t where a=$1'); // => true
 */
export function canonicalText(text: string): string {
  const body = text.startsWith(UNPARSED_PREFIX) ? text.slice(UNPARSED_PREFIX.length) : text;
  let out = '';
  let i = 0;
  while (i < body.length) {
    const c = body[i];
    if (c === "'" || c === '"') {
      // Copy the quoted run exactly; a doubled quote stays inside it.
      let j = i + 1;
      while (j < body.length) {
        if (body[j] === c) {
          if (body[j + 1] === c) j += 2;
          else break;
        } else j += 1;
      }
      out += body.slice(i, j + 1);
      i = j + 1;
    } else if (/\s/.test(c)) {
      while (i < body.length && /\s/.test(body[i])) i += 1;
      out += ' ';
    } else {
      out += c.toLowerCase();
      i += 1;
    }
  }
  // A space matters only between two word characters (`select id`), not next to `(`, `=`, `,`.
  return out.replace(/ (?=[^\p{L}\p{N}_$"'])|(?<=[^\p{L}\p{N}_$"']) /gu, '').trim();
}
