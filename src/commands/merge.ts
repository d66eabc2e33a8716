/**
 * `merge`: joins the reports of a sharded run (`--shard i/n` on every part) into the report
 * the unsharded run would have printed. Exact figures are recomputed from the turns (each
 * turn was measured in exactly one shard, so sums over turns are exact), findings are added
 * up per (kind, fingerprint, column) — they cannot be recomputed, as unused columns need the
 * values a run captured — and latency percentiles are taken again over every measured build.
 */
import { UsageError } from '../core/errors.js';
import { compareFindings, mergePlaces } from '../core/analysis/findings.js';
import { readTextFile } from '../core/read-text.js';
import { mean, meanFigures, sumFigures } from '../core/figures.js';
import { percentiles, sectionFigures } from '../core/runner.js';
import type { StatementRecord } from '../core/types.js';
import { sweepRows, type SweepResult } from './sweep.js';
import type {
  ContextDifference,
  Finding,
  FindingFix,
  Report,
  SectionFigures,
  StrategyReport,
  TotalFigures,
  TurnDetail,
} from '../report/model.js';

/** A shard's report and the file it was read from (named in every problem). */
export interface ShardReport {
  file: string;
  report: Report;
}

/**
 * Reads shard reports (`--format json` output of `--shard i/n` runs). Every unreadable or
 * malformed file is reported at once (exit 2).
 *
 * @example
 * const shards = await readShardReports(['shard-1.json', 'shard-2.json']);
 */
export async function readShardReports(files: readonly string[]): Promise<ShardReport[]> {
  if (files.length === 0) throw new UsageError('merge: name the shard reports to merge (e.g. shard-*.json)');
  const problems: string[] = [];
  const shards: ShardReport[] = [];
  for (const file of files) {
    try {
      shards.push({ file, report: await readReportFile(file, 'merge') });
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  return shards;
}

/**
 * Reads a saved report (`--format json`); a file that is not one is a usage error naming
 * `flag` and the file (exit 2).
 *
 * @example
 * const report = await readReportFile('merged.json', '--report');
 */
export async function readReportFile(file: string, flag: string): Promise<Report> {
  return asReport(await readJsonFile(file, flag), file, flag);
}

async function readJsonFile(file: string, flag: string): Promise<unknown> {
  const text = await readTextFile(file, flag);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${file}: not valid JSON (${(error as Error).message})`);
  }
}

function asReport(json: unknown, file: string, flag: string): Report {
  const r = json as Partial<Report>;
  if (typeof json !== 'object' || json === null || r.version !== 1 || !Array.isArray(r.strategies)) {
    throw new UsageError(
      `${flag}: ${file}: not a ctxbench report (expected the --format json output of compare, check or merge)`,
    );
  }
  const missing = r.strategies
    .filter((s) => !Array.isArray(s?.turnDetails) || !Array.isArray(s?.findings))
    .map((s) => `"${s?.name}"`);
  if (missing.length > 0) {
    throw new UsageError(
      `${flag}: ${file}: strategy ${missing.join(', ')} has no turnDetails: every turn's figures are needed (write the report with its turn details)`,
    );
  }
  return json as Report;
}

/** What shards of one run share; each becomes a "made from different …" problem when they do not. */
const SAME: { what: string; value: (r: Report) => string }[] = [
  { what: 'ctxbench versions', value: (r) => String(r.tool?.version) },
  {
    what: 'datasets',
    value: (r) =>
      r.dataset == null ? 'none (a --db, --setup or --turns database)' : `scale ${r.dataset.scale}, seed ${r.dataset.seed}`,
  },
  { what: 'databases', value: (r) => `${r.database?.kind} ${r.database?.serverVersion}` },
  { what: 'strategy sets', value: (r) => r.strategies.map((s) => (s.source ? `${s.name} (${s.source})` : s.name)).join(', ') },
  { what: 'baseline strategies', value: (r) => String(r.baseline) },
  { what: 'repeat counts', value: (r) => String(r.repeat) },
  { what: 'tokenizers', value: (r) => String(r.tokenizer ?? 'none') },
  {
    what: 'redaction (diagnose --show-content)',
    value: (r) => String((r as { diagnosis?: { redacted?: boolean } }).diagnosis?.redacted ?? 'n/a'),
  },
  { what: 'shard counts', value: (r) => String(r.shard?.count) },
  {
    what: 'turns (another --conversation, --turns file or dataset)',
    value: (r) => `${r.shard?.totalTurns} turns, sha256 ${r.shard?.turnSetSha256.slice(0, 12)}`,
  },
];

/** Every reason these files are not the complete set of shards of one run; empty when they are. */
function shardProblems(shards: readonly ShardReport[]): string[] {
  const problems: string[] = [];
  const usable: ShardReport[] = [];
  for (const { file, report } of shards) {
    const shard = report.shard;
    if (shard === undefined || shard === null) {
      problems.push(`merge: ${file}: not a shard report (no "shard" field): write each part with --shard i/n --format json`);
      continue;
    }
    const whole = (n: unknown, min: number) => Number.isSafeInteger(n) && (n as number) >= min;
    if (
      !whole(shard.count, 1) ||
      !whole(shard.index, 1) ||
      shard.index > shard.count ||
      !whole(shard.totalTurns, 0) ||
      typeof shard.turnSetSha256 !== 'string' ||
      !Array.isArray(shard.positions)
    ) {
      problems.push(
        `merge: ${file}: shard: expected { index, count, totalTurns, turnSetSha256, positions } as ctxbench writes it`,
      );
      continue;
    }
    if (report.interrupted || (report as { diagnosis?: { interrupted?: boolean } }).diagnosis?.interrupted)
      problems.push(
        `merge: ${file}: shard ${shard.index}/${shard.count} was interrupted and covers only some of its turns: run it again`,
      );
    if (report.latencyByRtt !== undefined)
      problems.push(
        `merge: ${file}: has latency by RTT, which is summarised per shard and cannot be merged: measure --rtt without --shard`,
      );
    for (const s of report.strategies) {
      if (!Array.isArray(s.turnDetails)) {
        problems.push(
          `merge: ${file}: strategy "${s.name}" has no turnDetails: merge needs every turn's figures (write the shard with its turn details)`,
        );
      } else if (s.turnDetails.length !== shard.positions.length) {
        problems.push(
          `merge: ${file}: strategy "${s.name}" has ${s.turnDetails.length} turns, the shard ${shard.positions.length}`,
        );
      }
    }
    usable.push({ file, report });
  }
  if (usable.length === 0) return problems;
  for (const { what, value } of SAME) {
    const groups = new Map<string, string[]>();
    for (const { file, report } of usable) {
      const v = value(report);
      groups.set(v, [...(groups.get(v) ?? []), file]);
    }
    if (groups.size > 1) {
      problems.push(
        `merge: shards made from different ${what}: ${[...groups].map(([v, files]) => `${v} (${files.join(', ')})`).join('; ')}`,
      );
    }
  }
  if (problems.length > 0) return problems;

  const count = usable[0]!.report.shard!.count;
  const total = usable[0]!.report.shard!.totalTurns;
  const byIndex = new Map<number, string[]>();
  for (const { file, report } of usable) byIndex.set(report.shard!.index, [...(byIndex.get(report.shard!.index) ?? []), file]);
  for (const [index, files] of [...byIndex].sort(([a], [b]) => a - b)) {
    if (files.length > 1) problems.push(`merge: shard ${index}/${count} given ${files.length} times: ${files.join(', ')}`);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    problems.push(
      `merge: missing shard${missing.length === 1 ? '' : 's'} ${missing.map((i) => `${i}/${count}`).join(', ')} (given: ${[
        ...byIndex.keys(),
      ]
        .sort((a, b) => a - b)
        .map((i) => `${i}/${count}`)
        .join(', ')})`,
    );
  }
  if (problems.length > 0) return problems;
  // Guards against a file edited by hand: the positions must cover every turn exactly once.
  const seen = new Array<boolean>(total).fill(false);
  for (const { file, report } of usable) {
    for (const p of report.shard!.positions) {
      if (!Number.isInteger(p) || p < 0 || p >= total || seen[p]) {
        problems.push(`merge: ${file}: shard.positions: turn position ${p} is out of range or in another shard too`);
        return problems;
      }
      seen[p] = true;
    }
  }
  if (seen.some((s) => !s)) problems.push(`merge: the shards cover ${seen.filter(Boolean).length} of ${total} turns`);
  return problems;
}

/** Whether a turn still has every statement it counted (a `--details summary` report keeps none). */
function hasStatements(d: TurnDetail): boolean {
  return Array.isArray(d.statements) && d.statements.length === d.queries;
}

function findingKey(f: Pick<Finding, 'kind' | 'fingerprint' | 'column'>): string {
  return `${f.kind}\u0000${f.fingerprint}\u0000${f.column ?? ''}`;
}

/**
 * Whether `finding` occurred in one turn, decided from its statements the way findFindings
 * decides it (so the merged finding shows the SQL of the earliest turn, as an unsharded run does).
 */
function occursIn(finding: Finding, statements: readonly StatementRecord[]): boolean {
  if (finding.kind === 'unused-column') return statements.some((s) => s.sql === finding.sql);
  const shape = statements.filter((s) => (s.fingerprint || s.sql) === finding.fingerprint);
  if (finding.kind === 'select-star') return shape.length > 0;
  const calls = new Map<string, number>();
  for (const s of shape) {
    const key = JSON.stringify([s.sql, s.params]);
    calls.set(key, (calls.get(key) ?? 0) + 1);
  }
  if (finding.kind === 'n-plus-one') return shape.length >= 2 && calls.size >= 2;
  return [...calls.values()].some((n) => n >= 2);
}

/** Position (in the unsharded order) of the first turn of a shard in which `finding` occurred. */
function firstOccurrence(finding: Finding, details: readonly TurnDetail[], positions: readonly number[]): number {
  for (const [i, d] of details.entries()) {
    if (!hasStatements(d)) break;
    if (occursIn(finding, d.statements)) return positions[i]!;
  }
  return positions[0] ?? Number.MAX_SAFE_INTEGER;
}

/**
 * Two shards' what-if verdicts on one finding, as one run folds its turns' (see attachFixes):
 * measured fixes add up (the rewrite shown is the earlier shard's); a verdict that is no fix
 * (not rewritable, other rows, failed) wins over a measured one, and of two such verdicts the
 * one of the shard where the finding occurred first.
 */
function mergeFix(a: FindingFix | undefined, aFrom: number, b: FindingFix | undefined, bFrom: number): FindingFix | undefined {
  if (b === undefined) return a;
  if (a === undefined) return structuredClone(b);
  if (a.status === 'measured' && b.status === 'measured') {
    const [first, second] = aFrom <= bFrom ? [a, b] : [b, a];
    const sum = structuredClone(first);
    sum.turns = a.turns + b.turns;
    for (const k of ['statements', 'roundTrips', 'rows', 'bytes', 'payloadBytes'] as const) {
      sum[k] = first[k] + second[k];
      sum.before[k] = first.before[k] + second.before[k];
    }
    return sum;
  }
  if (a.status === 'measured') return structuredClone(b);
  if (b.status === 'measured') return a;
  return aFrom <= bFrom ? a : structuredClone(b);
}

/** Findings of all shards, added up per (kind, fingerprint, column), in findFindings' order. */
function mergeFindings(parts: readonly { strategy: StrategyReport; positions: readonly number[] }[]): Finding[] {
  const merged = new Map<string, { finding: Finding; from: number }>();
  for (const { strategy, positions } of parts) {
    for (const f of strategy.findings) {
      const from = firstOccurrence(f, strategy.turnDetails, positions);
      const key = findingKey(f);
      const acc = merged.get(key);
      if (acc === undefined) {
        // A budget's silences are applied again by whatever gates the merged report.
        const { silenced: _silenced, ...finding } = f;
        merged.set(key, { finding: structuredClone(finding), from });
        continue;
      }
      acc.finding.turns += f.turns;
      acc.finding.statements += f.statements;
      acc.finding.bytes += f.bytes;
      acc.finding.maxPerTurn = Math.max(acc.finding.maxPerTurn, f.maxPerTurn);
      const fix = mergeFix(acc.finding.fix, acc.from, f.fix, from);
      if (fix !== undefined) acc.finding.fix = fix;
      // Call sites and tag groups: the earlier shard's first (exact when each shard's come
      // after the other's in the whole run, as a strategy's fixed code lines do).
      const places = { callSites: acc.finding.callSites, tags: acc.finding.tags };
      if (from < acc.from) {
        acc.finding.callSites = f.callSites === undefined ? undefined : [...f.callSites];
        acc.finding.tags = f.tags?.map((t) => ({ ...t }));
        mergePlaces(acc.finding, places);
      } else {
        mergePlaces(acc.finding, f);
      }
      if (acc.finding.callSites === undefined) delete acc.finding.callSites;
      if (acc.finding.tags === undefined) delete acc.finding.tags;
      if (from < acc.from) {
        acc.finding.sql = f.sql;
        acc.from = from;
      }
    }
  }
  return [...merged.values()].map((m) => m.finding).sort(compareFindings);
}

/** Sections added up over shards (when a shard kept no statements to recompute them from). */
function addSections(
  parts: readonly { strategy: StrategyReport; positions: readonly number[] }[],
  turns: number,
): SectionFigures[] {
  const byName = new Map<string | null, SectionFigures['totals']>();
  const ordered = [...parts].sort((a, b) => (a.positions[0] ?? Infinity) - (b.positions[0] ?? Infinity));
  for (const { strategy } of ordered) {
    for (const s of strategy.sections ?? []) {
      byName.set(s.name, sumFigures([byName.get(s.name) ?? sumFigures([]), s.totals]));
    }
  }
  return [...byName].map(([name, totals]) => ({ name, totals, perTurn: meanFigures(totals, turns || 1) }));
}

function mergeStrategy(
  name: string,
  parts: readonly { strategy: StrategyReport; positions: readonly number[] }[],
  total: number,
): StrategyReport {
  const slots: TurnDetail[] = new Array(total);
  for (const { strategy, positions } of parts) strategy.turnDetails.forEach((d, i) => (slots[positions[i]!] = d));
  const details = slots;
  const totals: TotalFigures = sumFigures(details);
  const n = details.length || 1;
  const counted = parts.some((p) => p.strategy.totals?.promptTokens !== undefined);
  const tokens = counted ? details.reduce((a, d) => a + (d.promptTokens ?? 0), 0) : undefined;
  if (tokens !== undefined) totals.promptTokens = tokens;

  let difference: ContextDifference | null = null;
  let differenceAt = Infinity;
  for (const { strategy, positions } of parts) {
    if (strategy.difference == null) continue;
    const i = strategy.turnDetails.findIndex((d) => d.contextIdentical === false);
    const at = positions[i < 0 ? strategy.turnDetails.findIndex((d) => d.turn === strategy.difference!.turn) : i] ?? Infinity;
    if (difference === null || at < differenceAt) {
      difference = strategy.difference;
      differenceAt = at;
    }
  }
  const first = parts[0]!.strategy;
  return {
    name,
    source: first.source ?? null,
    turns: details.length,
    perTurn: {
      ...meanFigures(totals, n),
      promptBytes: mean(
        details.reduce((a, d) => a + d.promptBytes, 0),
        n,
      ),
      ...(tokens === undefined ? {} : { promptTokens: mean(tokens, n) }),
      latencyMs: percentiles(details.flatMap((d) => d.latencyMs)),
    },
    totals,
    contextIdentical: difference === null && parts.every((p) => p.strategy.contextIdentical !== false),
    difference,
    findings: mergeFindings(parts),
    sections: details.every(hasStatements) ? sectionFigures(details) : addSections(parts, details.length),
    turnDetails: details,
  };
}

/**
 * Joins the shards of one run into the unsharded report: turns in the unsharded order, every
 * exact figure, section, finding, prompt hash and `contextIdentical` as that run reports them,
 * and latency percentiles over all measured builds. Refuses (a usage error, exit 2, naming the
 * files) a missing or duplicate shard, an interrupted one, and shards of different datasets,
 * databases, strategies, turns or ctxbench versions. The server diagnosis of `diagnose`
 * shards (settings, EXPLAIN, pg_stat_statements) is per shard and is left out.
 *
 * @example
 * const report = mergeReports(await readShardReports(['shard-1.json', 'shard-2.json']));
 */
export function mergeReports(shards: readonly ShardReport[]): Report {
  if (shards.length === 0) throw new UsageError('merge: name the shard reports to merge (e.g. shard-*.json)');
  const problems = shardProblems(shards);
  if (problems.length > 0) throw new UsageError(problems);
  const ordered = [...shards].sort((a, b) => a.report.shard!.index - b.report.shard!.index);
  const head = ordered[0]!.report;
  const total = head.shard!.totalTurns;
  const strategies = head.strategies.map((s, k) =>
    mergeStrategy(
      s.name,
      ordered.map(({ report }) => ({ strategy: report.strategies[k]!, positions: report.shard!.positions })),
      total,
    ),
  );
  const report: Report = {
    version: head.version,
    tool: head.tool,
    database: head.database,
    dataset: head.dataset,
    repeat: head.repeat,
    ...(head.tokenizer === undefined ? {} : { tokenizer: head.tokenizer }),
    baseline: head.baseline,
    strategies,
    contextIdentical: strategies.every((s) => s.contextIdentical),
  };
  return report;
}

/**
 * Reads and merges shard reports.
 *
 * @example
 * const report = await merge(['shard-1.json', 'shard-2.json', 'shard-3.json']);
 */
export async function merge(files: readonly string[]): Promise<Report> {
  return mergeReports(await readShardReports(files));
}

/** One shard of `sweep --shard i/n --format json`: the shard's report at each scale. */
export interface SweepShard {
  file: string;
  scales: string[];
  reports: Report[];
}

/** Whether a parsed file is the JSON of a sharded sweep (it carries its reports). */
function isSweep(json: unknown): json is { scales: string[]; reports: unknown[] } {
  const j = json as { scales?: unknown; reports?: unknown } | null;
  return typeof j === 'object' && j !== null && Array.isArray(j.scales) && Array.isArray(j.reports);
}

/**
 * Joins the shards of a sweep: scale by scale, as {@link mergeReports} joins a run's, then the
 * rows again from the merged reports. Shards of different scales are refused (exit 2).
 *
 * @example
 * const result = mergeSweeps(shards); // shards read from `sweep --shard i/n --format json` files
 */
export function mergeSweeps(shards: readonly SweepShard[]): SweepResult {
  if (shards.length === 0) throw new UsageError('merge: name the shard reports to merge (e.g. shard-*.json)');
  const scales = shards[0]!.scales;
  const groups = new Map<string, string[]>();
  for (const s of shards) groups.set(s.scales.join(','), [...(groups.get(s.scales.join(',')) ?? []), s.file]);
  if (groups.size > 1) {
    throw new UsageError(
      `merge: sweep shards of different scales: ${[...groups].map(([v, files]) => `${v} (${files.join(', ')})`).join('; ')}`,
    );
  }
  const reports = scales.map((scale, k) =>
    mergeReports(shards.map((s) => ({ file: `${s.file} (scale ${scale})`, report: s.reports[k]! }))),
  );
  return { scales: [...scales], rows: sweepRows(reports), reports };
}

/**
 * Reads shard files and merges them: the shards of a run (`compare`, `check`, `diagnose`) into
 * a report, or those of a sweep into a sweep result. Mixing the two is refused (exit 2).
 *
 * @example
 * const merged = await mergeFiles(['shard-1.json', 'shard-2.json']);
 * if (merged.kind === 'report') console.log(merged.report.strategies[0].totals);
 */
export async function mergeFiles(
  files: readonly string[],
): Promise<{ kind: 'report'; report: Report } | { kind: 'sweep'; sweep: SweepResult }> {
  if (files.length === 0) throw new UsageError('merge: name the shard reports to merge (e.g. shard-*.json)');
  const problems: string[] = [];
  const parsed: { file: string; json: unknown }[] = [];
  for (const file of files) {
    try {
      parsed.push({ file, json: await readJsonFile(file, 'merge') });
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  const sweeps = parsed.filter((p) => isSweep(p.json));
  if (sweeps.length > 0 && sweeps.length < parsed.length) {
    throw new UsageError(
      `merge: sweep shards (${sweeps.map((s) => s.file).join(', ')}) and run shards (${parsed
        .filter((p) => !isSweep(p.json))
        .map((p) => p.file)
        .join(', ')}) cannot be merged together`,
    );
  }
  if (sweeps.length > 0) {
    const shards: SweepShard[] = [];
    for (const { file, json } of sweeps) {
      const sweep = json as { scales: string[]; reports: unknown[] };
      try {
        shards.push({
          file,
          scales: sweep.scales.map(String),
          reports: sweep.reports.map((r, k) => asReport(r, `${file} (scale ${sweep.scales[k]})`, 'merge')),
        });
      } catch (error) {
        if (error instanceof UsageError) problems.push(...error.problems);
        else throw error;
      }
    }
    if (problems.length > 0) throw new UsageError(problems);
    return { kind: 'sweep', sweep: mergeSweeps(shards) };
  }
  for (const { file, json } of parsed) {
    try {
      asReport(json, file, 'merge');
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  return { kind: 'report', report: mergeReports(parsed.map(({ file, json }) => ({ file, report: json as Report }))) };
}
