/**
 * JUnit for CI dashboards: a context that was not compared is a skipped case, never a pass,
 * and a run stopped by a failing strategy is still a document with that failure.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderJunit, renderJunitFailure } from '../../src/report/junit.js';
import { twoStrategyReport } from './report-fixture.js';

const parse = (xml: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);

describe('renderJunit', () => {
  it('a context that was not compared is a skipped test case', () => {
    const report = twoStrategyReport();
    report.strategies[1]!.contextIdentical = null;
    report.contextIdentical = null;
    const xml = renderJunit(report);
    expect(XMLValidator.validate(xml)).toBe(true);
    const suite = [parse(xml).testsuites.testsuite].flat()[1];
    expect(suite).toMatchObject({ tests: '1', failures: '0', skipped: '1' });
    expect(suite.testcase.skipped.message).toBe('not checked: no turn had prompts on both sides');
  });

  it('a failed run is one failing case of the strategy that failed, with the message escaped', () => {
    const xml = renderJunitFailure('strategy "mine" (./mine.ts) failed on turn c1/m1: <boom> & "more"\nsecond line');
    expect(XMLValidator.validate(xml)).toBe(true);
    const parsed = parse(xml);
    expect(parsed.testsuites).toMatchObject({ tests: '1', failures: '1' });
    expect(parsed.testsuites.testsuite).toMatchObject({ name: 'ctxbench mine', failures: '1', skipped: '0' });
    expect(parsed.testsuites.testsuite.testcase.failure.message).toBe('strategy "mine" (./mine.ts) failed on turn c1/m1: <boom> & "more" second line');
  });
});
