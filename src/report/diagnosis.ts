/**
 * The part of a diagnosis the comparison table does not show: the server's settings, its own
 * view of the statements (pg_stat_statements), EXPLAIN flags, and whether content was hidden.
 */
import type { Diagnosis } from '../commands/diagnose.js';
import { formatMs, formatNumber, oneLine, trimLines } from './table.js';

/**
 * @example
 * process.stdout.write(renderTable(d, { color: false }) + renderDiagnosisText(d));
 */
export function renderDiagnosisText(d: Diagnosis): string {
  const out: string[] = [''];
  const info = d.diagnosis;
  if (info.interrupted) out.push('Interrupted: the figures cover the turns completed before the signal.', '');
  out.push('Server settings that change the measurement');
  for (const [k, v] of Object.entries(info.settings)) out.push(`  ${k} = ${v}`);

  out.push('', "Server's view (pg_stat_statements)");
  const ss = info.statStatements;
  if (!ss.available) out.push(`  not available: ${ss.reason}`);
  else {
    for (const m of ss.statements) {
      out.push(
        m.matched
          ? `  ${formatNumber(m.calls)} calls, mean ${formatMs(m.meanExecMs)}, ${formatNumber(m.rows)} rows  (ctxbench: ${formatNumber(m.localCalls)} statements)  ${oneLine(m.fingerprint, 90)}`
          : `  not matched  (ctxbench: ${formatNumber(m.localCalls)} statements)  ${oneLine(m.fingerprint, 90)}`,
      );
    }
  }

  if (info.explain !== null) {
    out.push('', info.explain.analyze ? 'EXPLAIN ANALYZE (each statement was executed once more, read-only, to time it)' : 'EXPLAIN');
    const flagged = info.explain.results.filter((r) => r.flags.length > 0 || r.error);
    for (const r of info.explain.results) {
      if (r.error) {
        out.push(`  could not explain ${oneLine(r.fingerprint, 80)}: ${r.error}`);
        continue;
      }
      const root = (r.planRoot ?? {}) as { 'Node Type'?: string; 'Relation Name'?: string };
      const node = `${root['Node Type'] ?? 'plan'}${root['Relation Name'] ? ` on ${root['Relation Name']}` : ''}`;
      const actual = r.actualMs === undefined ? '' : `, ran ${formatMs(r.actualMs)}`;
      out.push(`  ${node}, cost ${formatNumber(r.totalCost ?? 0)}, ≈ ${formatNumber(r.planRows ?? 0)} rows${actual}  ${oneLine(r.fingerprint, 80)}`);
      for (const f of r.flags) out.push(`    ✗ ${f.message}`);
    }
    if (flagged.length === 0) out.push(`  no sequential scan of a large table, no filter without an index`);
  }
  if (info.redacted) out.push('', 'Parameters, SQL literals and prompt text are hidden (customer data); --show-content shows them.');
  return `${trimLines(out.join('\n'))}\n`;
}
