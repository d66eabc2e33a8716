/**
 * Output of `ctxbench replay`: every statement a strategy sent, turn by turn, as a terminal
 * table or as NDJSON (one JSON object per statement per line, docs/design.md §5).
 */
import Table from 'cli-table3';
import { Chalk } from 'chalk';
import type { StatementRecord } from '../core/types.js';
import { formatTags } from '../core/analysis/sqlcommenter.js';
import { formatNumber, oneLine, plural, trimLines } from './table.js';

/** The statements of one replayed turn. */
export interface TurnStatements {
  turn: string;
  conversationId: string | null;
  messageId: string | null;
  statements: StatementRecord[];
}

/** Where a statement came from: its call site and its sqlcommenter tags, or '' when neither is known. */
function placeOf(s: StatementRecord): string {
  const parts: string[] = [];
  if (typeof s.callSite === 'string') parts.push(s.callSite);
  if (s.tags !== undefined) parts.push(formatTags(s.tags));
  return parts.join(' · ');
}

/**
 * Per turn a heading, a table of its statements (#, round trip, rows, wire bytes, payload
 * bytes, ms, the call site when any is known, SQL on one line) and a total line. Ends with a
 * newline.
 *
 * @example
 * process.stdout.write(renderStatementsTable(turns, { color: false }));
 */
export function renderStatementsTable(turns: TurnStatements[], options: { color: boolean }): string {
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
  const out: string[] = [];
  if (turns.length === 0) return 'No turns.\n';

  turns.forEach((turn, index) => {
    if (index > 0) out.push('');
    out.push(chalk.bold(turn.conversationId !== null && turn.messageId !== null ? `conversation ${turn.conversationId} · message ${turn.messageId}` : `turn ${turn.turn}`));
    const s = turn.statements;
    if (s.length === 0) {
      out.push('no statements');
      return;
    }
    // The column only when some statement has a place to show: recordings of other programs have none.
    const places = s.some((st) => placeOf(st) !== '');
    const head = ['#', 'round trip', 'rows', 'wire bytes', 'payload bytes', 'ms', ...(places ? ['call site'] : []), 'SQL'];
    const table = new Table({
      head: head.map((h) => chalk.bold(h)),
      colAligns: ['right', 'right', 'right', 'right', 'right', 'right', ...(places ? (['left'] as const) : []), 'left'],
      style: { head: [], border: [], compact: true },
    });
    for (const st of s) {
      const sql = st.error === null ? oneLine(st.sql) : `${oneLine(st.sql)} ${chalk.red(`✗ ${oneLine(st.error, 80)}`)}`;
      table.push([
        String(st.seq),
        String(st.roundTrip),
        formatNumber(st.rows),
        formatNumber(st.wireBytes),
        formatNumber(st.payloadBytes),
        st.durationMs.toFixed(2),
        ...(places ? [placeOf(st)] : []),
        sql,
      ]);
    }
    out.push(table.toString());
    const sum = (f: (x: StatementRecord) => number): number => s.reduce((acc, x) => acc + f(x), 0);
    const roundTrips = new Set(s.map((x) => x.roundTrip)).size;
    const failed = s.filter((x) => x.error !== null).length;
    out.push(
      `total: ${plural(s.length, 'statement')}, ${plural(roundTrips, 'round trip')}, ${plural(sum((x) => x.rows), 'row')}, ` +
        `${formatNumber(sum((x) => x.wireBytes))} wire bytes, ${formatNumber(sum((x) => x.payloadBytes))} payload bytes, ` +
        `${sum((x) => x.durationMs).toFixed(2)} ms` +
        (failed > 0 ? `, ${chalk.red(`${formatNumber(failed)} failed`)}` : ''),
    );
  });
  return `${trimLines(out.join('\n'))}\n`;
}

/**
 * One JSON object per statement per line, in turn and statement order: `{ conversationId,
 * messageId, seq, roundTrip, sql, params, fingerprint, durationMs, rows, wireBytes,
 * payloadBytes, command, error, callSite }` and `tags` when the SQL has sqlcommenter tags.
 * Empty for no statements, else ends with a newline.
 *
 * @example
 * process.stdout.write(renderStatementsNdjson(turns));
 */
export function renderStatementsNdjson(turns: TurnStatements[]): string {
  const lines: string[] = [];
  for (const turn of turns) {
    for (const s of turn.statements) {
      lines.push(
        JSON.stringify({
          turn: turn.turn,
          conversationId: turn.conversationId,
          messageId: turn.messageId,
          seq: s.seq,
          roundTrip: s.roundTrip,
          sql: s.sql,
          params: s.params,
          fingerprint: s.fingerprint,
          section: s.section,
          durationMs: s.durationMs,
          rows: s.rows,
          wireBytes: s.wireBytes,
          sentBytes: s.sentBytes,
          payloadBytes: s.payloadBytes,
          command: s.command,
          error: s.error,
          callSite: s.callSite ?? null,
          ...(s.tags === undefined ? {} : { tags: s.tags }),
        }),
      );
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
