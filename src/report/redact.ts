/**
 * A report fit to share from a production database: no parameter values and no SQL
 * literals (statements show their fingerprint), no value quoted in an error message, no prompt
 * text. Figures are untouched.
 */
import type { StatementRecord } from '../core/types.js';
import { fingerprintSql } from '../core/analysis/fingerprint.js';
import { redactErrorMessage } from '../core/analysis/error-redaction.js';
import type { Report } from './model.js';

const REDACTED = '<redacted>';

function redactStatement(s: StatementRecord): StatementRecord {
  return {
    ...s,
    sql: s.fingerprint || s.sql,
    params: s.params.map((p) => (p === null ? null : REDACTED)),
    error: s.error === null ? null : redactErrorMessage(s.error, () => REDACTED),
  };
}

/**
 * Returns a copy of `report` with parameters masked and SQL replaced by fingerprints.
 * Prompt diffs are redacted earlier, by the runner (`redactContent`), which still has the
 * text; check budgets after redacting, so violations list redacted statements too.
 *
 * @example
 * const safe = redactReport(report);
 */
export function redactReport(report: Report): Report {
  const copy: Report = structuredClone(report);
  for (const s of copy.strategies) {
    for (const t of s.turnDetails) t.statements = t.statements.map(redactStatement);
    for (const f of s.findings) {
      f.sql = f.fingerprint || f.sql;
      // A rewrite keeps the literals of the statement it rewrites; a server error may quote a value.
      if (f.fix !== undefined && 'sql' in f.fix) f.fix.sql = fingerprintSql(f.fix.sql);
      if (f.fix?.status === 'failed') f.fix.reason = 'the server refused it (--show-content shows its message)';
    }
  }
  return copy;
}
