/**
 * `--format junit`: one test case per strategy × budget (and per context check and baseline),
 * for CI dashboards that read JUnit XML.
 */
import { METRIC_FLAGS } from '../core/gate-results.js';
import { describeViolation } from './gate.js';
import type { Report } from './model.js';
import { describeTurn, differenceOf, oneLine } from './table.js';

function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

interface Case {
  name: string;
  failure: { message: string; details: string } | null;
  /** Why the case was not checked (a skipped test case). */
  skipped?: string;
}

/**
 * @example
 * await writeFile('ctxbench.xml', renderJunit(report));
 */
export function renderJunit(report: Report): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  for (const s of report.strategies) {
    const cases: Case[] = [];
    if (s.name !== report.baseline) {
      const d = differenceOf(s);
      cases.push({
        name: `context identical to ${report.baseline}`,
        failure: d === null ? null : { message: `context differs at ${describeTurn(d)}`, details: d.diff },
        ...(s.contextIdentical === null ? { skipped: 'not checked: no turn had prompts on both sides' } : {}),
      });
    }
    for (const c of report.budget?.checks.filter((c) => c.strategy === s.name) ?? []) {
      const violations = report.budget!.violations.filter((v) => v.strategy === s.name && v.metric === c.metric && v.section === c.section);
      const scope = `${c.section === null ? '' : `section ${c.section}: `}${c.metric} ${report.budget!.per === 'turn' ? 'per turn' : 'per run'} ≤ ${c.budget}`;
      cases.push({
        name: `budget ${scope} (${METRIC_FLAGS[c.metric]})`,
        failure: c.passed
          ? null
          : {
              message: `${violations.length} violation${violations.length === 1 ? '' : 's'}; worst ${c.worst}`,
              details: violations
                .map((v) => [describeViolation(v), ...v.statements.slice(0, 10).map((st) => `  ${st.count > 1 ? `${st.count}× from ` : ''}#${st.seq} ${st.bytes} B, ${st.rows} rows  ${oneLine(st.sql, 120)}`)].join('\n'))
                .join('\n'),
            },
      });
    }
    const f = report.baselineFile;
    if (f) {
      const mine = f.regressions.filter((r) => r.strategy === s.name);
      const added = f.added.filter((a) => a.strategy === s.name);
      cases.push({
        name: `no figure grew beyond baseline ${f.file}`,
        failure:
          mine.length === 0
            ? null
            : {
                message: `${mine.length} figure${mine.length === 1 ? '' : 's'} grew`,
                details: [
                  ...mine.map((r) => `turn ${r.turn}: ${r.metric} ${r.baseline} → ${r.actual}`),
                  ...added.map((a) => `added: turn ${a.turn}${a.section == null ? '' : ` · ${a.section}`}: ${a.baseline}× → ${a.actual}× ${oneLine(a.fingerprint, 120)}`),
                ].join('\n'),
              },
      });
    }
    tests += cases.length;
    const failed = cases.filter((c) => c.failure !== null).length;
    failures += failed;
    suites.push(suite(s.name, cases));
  }
  return document(tests, failures, suites);
}

function suite(strategy: string, cases: Case[]): string {
  const failed = cases.filter((c) => c.failure !== null).length;
  const skipped = cases.filter((c) => c.failure === null && c.skipped !== undefined).length;
  const body = cases.map((c) => {
    const open = `    <testcase classname="ctxbench.${escapeXml(strategy)}" name="${escapeXml(c.name)}"`;
    if (c.failure === null && c.skipped !== undefined) return `${open}>\n      <skipped message="${escapeXml(c.skipped)}"/>\n    </testcase>`;
    if (c.failure === null) return `${open}/>`;
    return `${open}>\n      <failure message="${escapeXml(c.failure.message)}">${escapeXml(c.failure.details)}</failure>\n    </testcase>`;
  });
  return `  <testsuite name="ctxbench ${escapeXml(strategy)}" tests="${cases.length}" failures="${failed}" errors="0" skipped="${skipped}">\n${body.join('\n')}${body.length ? '\n' : ''}  </testsuite>`;
}

function document(tests: number, failures: number, suites: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ctxbench" tests="${tests}" failures="${failures}">\n${suites.join('\n')}\n</testsuites>\n`;
}

/**
 * A run that stopped because a strategy failed, as JUnit: one failing test case for that
 * strategy, so a CI dashboard shows the failure instead of a missing file.
 *
 * @example
 * await writeFile('ctxbench.xml', renderJunitFailure('strategy "mine" (./mine.ts) failed on turn c1/m1: boom'));
 */
export function renderJunitFailure(message: string): string {
  const strategy = /^strategy "([^"]+)"/.exec(message)?.[1] ?? 'run';
  const failure = { message: oneLine(message, 300), details: message };
  return document(1, 1, [suite(strategy, [{ name: 'builds every turn without failing', failure }])]);
}
