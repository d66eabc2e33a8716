/** redactReport: parameters and literals never leave a production diagnosis; figures stay. */
import { describe, expect, it } from 'vitest';
import { redactReport } from '../../src/report/redact.js';
import { statement, twoStrategyReport } from '../report/report-fixture.js';

describe('redactReport', () => {
  it('masks every non-NULL parameter, shows the fingerprint for SQL, keeps figures, and leaves the input alone', () => {
    const report = twoStrategyReport();
    const secret = statement(1, `select * from t where a = $1 and b = 'Tehran' and c = $2`, ['alice@example.com', null], {
      fingerprint: 'select * from t where a = $1 and b = $3 and c = $2',
      rows: 3,
      wireBytes: 321,
    });
    const noFingerprint = statement(2, 'select 1', [], { fingerprint: '' });
    report.strategies[0]!.turnDetails = [
      { turn: 'c/m', conversationId: 'c', messageId: 'm', queries: 2, roundTrips: 2, bytes: 421, payloadBytes: 120, rows: 4, promptBytes: 5, promptSha256: 'h', latencyMs: [1], contextIdentical: true, statements: [secret, noFingerprint] },
    ];
    const before = structuredClone(report);
    const safe = redactReport(report);
    const [s1, s2] = safe.strategies[0]!.turnDetails[0]!.statements;
    expect(s1).toEqual({ ...secret, sql: 'select * from t where a = $1 and b = $3 and c = $2', params: ['<redacted>', null] });
    // With no fingerprint, the SQL is all there is to show.
    expect(s2!.sql).toBe('select 1');
    expect(safe.strategies[0]!.findings.map((f) => f.sql)).toEqual(report.strategies[0]!.findings.map((f) => f.fingerprint));
    expect(JSON.stringify(safe)).not.toContain('alice@example.com');
    expect(JSON.stringify(safe)).not.toContain('Tehran');
    expect(report).toEqual(before);
    expect(safe.strategies[1]).toEqual({ ...report.strategies[1], findings: report.strategies[1]!.findings.map((f) => ({ ...f, sql: f.fingerprint })) });
  });

  it('hides the value a statement was refused for, and keeps the rest of the error', () => {
    const report = twoStrategyReport();
    const failed = statement(1, `select $1::int`, ['alice@example.com'], { error: 'invalid input syntax for type integer: "alice@example.com" (SQLSTATE 22P02)' });
    report.strategies[0]!.turnDetails = [
      { turn: 'c/m', conversationId: 'c', messageId: 'm', queries: 1, roundTrips: 1, bytes: 100, payloadBytes: 60, rows: 0, promptBytes: 5, promptSha256: 'h', latencyMs: [1], contextIdentical: true, statements: [failed] },
    ];
    const safe = redactReport(report);
    expect(safe.strategies[0]!.turnDetails[0]!.statements[0]!.error).toBe('invalid input syntax for type integer: "<redacted>" (SQLSTATE 22P02)');
    expect(JSON.stringify(safe)).not.toContain('alice@example.com');
  });

  it('keeps a finding’s SQL when it has no fingerprint', () => {
    const report = twoStrategyReport();
    report.strategies[0]!.findings = [{ ...report.strategies[0]!.findings[0]!, fingerprint: '', sql: 'select 2' }];
    expect(redactReport(report).strategies[0]!.findings[0]!.sql).toBe('select 2');
  });
});
