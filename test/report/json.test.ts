import { describe, expect, it } from 'vitest';
import { renderJson } from '../../src/report/json.js';
import { differingReport, statement, twoStrategyReport } from './report-fixture.js';

describe('renderJson', () => {
  it('round-trips through JSON.parse to an equal object', () => {
    const report = differingReport();
    report.strategies[0].turnDetails.push({
      turn: 'c1/m1',
      conversationId: 'c1',
      messageId: 'm1',
      queries: 1,
      roundTrips: 1,
      bytes: 100,
      payloadBytes: 60,
      rows: 1,
      promptBytes: 10,
      promptSha256: 'ab'.repeat(32),
      latencyMs: [0.5, 0.25],
      contextIdentical: true,
      statements: [statement(1, 'select * from "customers" where "id" = $1', ['1', null])],
    });
    const text = renderJson(report);
    expect(JSON.parse(text)).toEqual(report);
  });

  it('is indented by two spaces, keeps the declared key order and ends with a newline', () => {
    const text = renderJson(twoStrategyReport());
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.startsWith('{\n  "version": 1,\n  "tool": {\n    "name": "ctxbench",')).toBe(true);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'version',
      'tool',
      'database',
      'dataset',
      'repeat',
      'baseline',
      'strategies',
      'contextIdentical',
    ]);
    expect(renderJson(twoStrategyReport())).toBe(text);
  });
});
