/**
 * Baselines with a ratchet (like django-perf-rec): a snapshot of each turn's figures and SQL
 * fingerprints, committed next to the code. A check fails when a figure grows beyond its
 * tolerance, shows which fingerprints appeared or vanished, and — when figures improve —
 * tightens the file, so a codebase that already has N+1s can adopt the gate today and only
 * move forward.
 */
import { UsageError } from './errors.js';
import { METRICS, type BaselineChange, type BaselineResult, type FingerprintChange, type Metric } from './gate-results.js';

export type { BaselineChange, BaselineResult, FingerprintChange } from './gate-results.js';
import { readTextFile } from './read-text.js';
import type { Report } from '../report/model.js';

/** One turn as recorded in a baseline. */
export interface BaselineTurn {
  queries: number;
  roundTrips: number;
  rows: number;
  bytes: number;
  payloadBytes: number;
  /** Fingerprint → statements sent with it in this turn. */
  fingerprints: Record<string, number>;
  /**
   * The same counts per section (`db.section`; `""` for statements outside any): section →
   * fingerprint → statements. Files snapshotted before sections were recorded lack it; they
   * are compared on `fingerprints` alone.
   */
  sections?: Record<string, Record<string, number>>;
}

/** The baseline file (`ctxbench snapshot`). */
export interface Baseline {
  version: 1;
  dataset: { scale: string; seed: number } | null;
  /** Strategy → turn label → figures. Strategies and fingerprints sorted; turns in replay order. */
  strategies: Record<string, Record<string, BaselineTurn>>;
}

/** Allowed growth per metric: an absolute number or a fraction of the baseline figure. */
export type Tolerance = Partial<Record<Metric, { absolute?: number; relative?: number }>>;

/**
 * Makes a baseline from a report.
 *
 * @example
 * await writeFile('ctxbench.baseline.json', renderBaseline(snapshot(report)));
 */
export function snapshot(report: Report): Baseline {
  const strategies: Baseline['strategies'] = {};
  for (const s of [...report.strategies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const turns: Record<string, BaselineTurn> = {};
    for (const t of s.turnDetails) {
      const counts = new Map<string, number>();
      const bySection = new Map<string, Map<string, number>>();
      for (const st of t.statements) {
        counts.set(st.fingerprint, (counts.get(st.fingerprint) ?? 0) + 1);
        const section = st.section ?? '';
        const inSection = bySection.get(section) ?? new Map<string, number>();
        inSection.set(st.fingerprint, (inSection.get(st.fingerprint) ?? 0) + 1);
        bySection.set(section, inSection);
      }
      turns[t.turn] = {
        queries: t.queries,
        roundTrips: t.roundTrips,
        rows: t.rows,
        bytes: t.bytes,
        payloadBytes: t.payloadBytes,
        fingerprints: sortedRecord(counts),
        sections: Object.fromEntries([...bySection].sort(([a], [b]) => compareKeys(a, b)).map(([name, c]) => [name, sortedRecord(c)])),
      };
    }
    strategies[s.name] = turns;
  }
  return { version: 1, dataset: report.dataset, strategies };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRecord(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].sort(([a], [b]) => compareKeys(a, b)));
}

/** The file's text: two-space JSON, one fingerprint per line, trailing newline. */
export function renderBaseline(baseline: Baseline): string {
  return `${JSON.stringify(baseline, null, 2)}\n`;
}

function isCountsBySection(value: unknown): boolean {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  return isObject(value) && Object.values(value).every((counts) => isObject(counts) && Object.values(counts).every((n) => typeof n === 'number'));
}

/** Reads a baseline file; a malformed one is a usage error naming the file (exit 2). */
export async function loadBaseline(file: string): Promise<Baseline> {
  const text = await readTextFile(file, '--baseline', ` (create it with "ctxbench snapshot --output ${file}")`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const problems: string[] = [];
  const b = json as Partial<Baseline>;
  if (typeof json !== 'object' || json === null || b.version !== 1) problems.push(`${file}: version: expected 1 (a file written by "ctxbench snapshot")`);
  else if (typeof b.strategies !== 'object' || b.strategies === null) problems.push(`${file}: strategies: expected an object`);
  else {
    for (const [strategy, turns] of Object.entries(b.strategies)) {
      for (const [turn, figures] of Object.entries(turns ?? {})) {
        for (const metric of METRICS) {
          if (typeof (figures as unknown as Record<string, unknown>)?.[metric] !== 'number') {
            problems.push(`${file}: strategies.${strategy}["${turn}"].${metric}: expected a number`);
          }
        }
        const sections = (figures as unknown as Record<string, unknown>)?.sections;
        if (sections !== undefined && !isCountsBySection(sections)) {
          problems.push(`${file}: strategies.${strategy}["${turn}"].sections: expected section → fingerprint → number of statements`);
        }
      }
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  return json as Baseline;
}

/**
 * Parses `--tolerance bytes=5%,queries=1`: per metric, an absolute allowance or a percentage.
 *
 * @example
 * parseTolerance('bytes=5%,rows=2') // { bytes: { relative: 0.05 }, rows: { absolute: 2 } }
 */
export function parseTolerance(text: string): Tolerance {
  const out: Tolerance = {};
  const problems: string[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\w+)=(\d+(?:\.\d+)?)(%?)$/.exec(part);
    if (!m || !(METRICS as readonly string[]).includes(m[1]!)) {
      problems.push(`--tolerance: expected metric=number or metric=number% with a metric of ${METRICS.join(', ')}, got "${part}"`);
      continue;
    }
    const value = Number(m[2]);
    out[m[1] as Metric] = m[3] === '%' ? { relative: value / 100 } : { absolute: value };
  }
  if (problems.length > 0) throw new UsageError(problems);
  return out;
}

function allowed(metric: Metric, baseline: number, tolerance: Tolerance): number {
  const t = tolerance[metric];
  if (t === undefined) return baseline;
  return baseline + (t.absolute ?? 0) + Math.floor(baseline * (t.relative ?? 0));
}

/**
 * Compares a report with a baseline.
 *
 * @example
 * const result = compareWithBaseline(report, await loadBaseline('ctxbench.baseline.json'), 'ctxbench.baseline.json');
 */
export function compareWithBaseline(report: Report, baseline: Baseline, file: string, tolerance: Tolerance = {}): BaselineResult {
  const result: BaselineResult = {
    passed: true,
    file,
    regressions: [],
    improvements: [],
    added: [],
    removed: [],
    missingTurns: [],
    newTurns: [],
    compared: 0,
    datasetChecked: baseline.dataset != null && report.dataset != null,
    updated: false,
  };
  const current = snapshot(report);
  for (const [strategy, turns] of Object.entries(current.strategies)) {
    const before = baseline.strategies[strategy];
    if (before === undefined) {
      for (const turn of Object.keys(turns)) result.newTurns.push({ strategy, turn });
      continue;
    }
    for (const [turn, now] of Object.entries(turns)) {
      const then = before[turn];
      if (then === undefined) {
        result.newTurns.push({ strategy, turn });
        continue;
      }
      result.compared += 1;
      for (const metric of METRICS) {
        if (now[metric] > allowed(metric, then[metric], tolerance)) result.regressions.push({ strategy, turn, metric, baseline: then[metric], actual: now[metric] });
        else if (now[metric] < then[metric]) result.improvements.push({ strategy, turn, metric, baseline: then[metric], actual: now[metric] });
      }
      shapeDifferences(strategy, turn, then, now, result);
    }
    for (const turn of Object.keys(before)) if (turns[turn] === undefined) result.missingTurns.push({ strategy, turn });
  }
  result.passed = result.regressions.length === 0;
  return result;
}


/**
 * The statement shapes sent more (added) or less (removed) often than the baseline turn says:
 * per section when the baseline recorded sections, else per fingerprint over the whole turn.
 */
function shapeDifferences(strategy: string, turn: string, then: BaselineTurn, now: BaselineTurn, result: BaselineResult): void {
  const compare = (section: string | undefined, before: Record<string, number>, after: Record<string, number>): void => {
    for (const fingerprint of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      const a = before[fingerprint] ?? 0;
      const b = after[fingerprint] ?? 0;
      if (a === b) continue;
      const change = { strategy, turn, ...(section === undefined ? {} : { section: section === '' ? null : section }), fingerprint, baseline: a, actual: b };
      (b > a ? result.added : result.removed).push(change);
    }
  };
  if (then.sections === undefined || now.sections === undefined) {
    compare(undefined, then.fingerprints ?? {}, now.fingerprints);
    return;
  }
  for (const section of [...new Set([...Object.keys(then.sections), ...Object.keys(now.sections)])].sort()) {
    compare(section, then.sections[section] ?? {}, now.sections[section] ?? {});
  }
}

/**
 * Why a baseline cannot judge a run, if it cannot: it was snapshotted on other data (another
 * scale or seed), or none of a baselined strategy's turns was replayed (turn keys or strategy
 * names changed), so nothing would be compared and the gate could not fail. When either side's
 * dataset is unknown (a file without the field; a --db or --setup database) it is not checked.
 *
 * @example
 * const problems = baselineProblems(baseline, report, compareWithBaseline(report, baseline, file), file);
 * if (problems.length > 0) throw new UsageError(problems);
 */
export function baselineProblems(baseline: Baseline, report: Report, result: BaselineResult, file: string): string[] {
  const problems: string[] = [];
  const then = baseline.dataset;
  const now = report.dataset;
  if (then != null && now != null && (String(then.scale) !== String(now.scale) || then.seed !== now.seed)) {
    problems.push(
      `--baseline: ${file} was snapshotted on scale ${then.scale}, seed ${then.seed}, this run used scale ${now.scale}, seed ${now.seed}: ` +
        'figures of different data cannot be compared (run on the baseline\'s dataset, or snapshot again)',
    );
    return problems;
  }
  const run = report.strategies.map((s) => s.name);
  const baselined = run.filter((name) => baseline.strategies[name] !== undefined);
  if (baselined.length === 0) {
    problems.push(
      `--baseline: ${file} has no strategy of this run (it has ${Object.keys(baseline.strategies).join(', ') || 'none'}; the run has ${run.join(', ')}): nothing was compared`,
    );
    return problems;
  }
  for (const name of baselined) {
    const ran = report.strategies.find((s) => s.name === name)!.turnDetails.map((t) => t.turn);
    if (ran.length > 0 && !ran.some((turn) => baseline.strategies[name]![turn] !== undefined)) {
      const theirs = Object.keys(baseline.strategies[name]!);
      problems.push(
        `--baseline: ${file}: no turn of strategy "${name}" matches (it has ${theirs.slice(0, 3).join(', ')}${theirs.length > 3 ? ', …' : ''}; ` +
          `the run replayed ${ran.slice(0, 3).join(', ')}${ran.length > 3 ? ', …' : ''}): nothing was compared; snapshot again`,
      );
    }
  }
  return problems;
}

/**
 * The ratchet: the baseline with every figure lowered to what was measured, never raised.
 * Only meaningful when nothing regressed.
 *
 * @example
 * if (result.passed && result.improvements.length > 0) await writeFile(file, renderBaseline(tighten(baseline, report)));
 */
export function tighten(baseline: Baseline, report: Report): Baseline {
  const current = snapshot(report);
  const strategies: Baseline['strategies'] = {};
  for (const [strategy, turns] of Object.entries(baseline.strategies)) {
    strategies[strategy] = {};
    for (const [turn, then] of Object.entries(turns)) {
      const now = current.strategies[strategy]?.[turn];
      if (now === undefined) {
        strategies[strategy]![turn] = then;
        continue;
      }
      const next = { ...then };
      for (const metric of METRICS) next[metric] = Math.min(then[metric], now[metric]);
      next.fingerprints = now.fingerprints;
      if (now.sections !== undefined) next.sections = now.sections;
      strategies[strategy]![turn] = next;
    }
  }
  return { ...baseline, strategies };
}
