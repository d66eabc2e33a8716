/**
 * `compare --before a.json --after b.json`: two saved reports (recordings of an application
 * before and after a change, or two compare runs) side by side in the seed's table format.
 */
import { UsageError } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import { diffPrompts } from '../core/analysis/prompt-diff.js';
import { shapeChanges } from '../core/analysis/shape-changes.js';
import type { Report, StrategyReport, TurnDetail } from '../report/model.js';

async function readReport(flag: string, file: string): Promise<Report> {
  const text = await readTextFile(file, flag);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${file}: not valid JSON (${(error as Error).message})`);
  }
  const r = json as Partial<Report>;
  if (typeof json !== 'object' || json === null || r.version !== 1 || !Array.isArray(r.strategies) || r.strategies.length === 0) {
    throw new UsageError(`${flag}: ${file} is not a ctxbench report (expected --format json output or a recording)`);
  }
  // Only the first strategy is read; a report cut down by hand must still have what the table shows.
  const first = r.strategies[0] as Partial<StrategyReport> | null;
  const problems: string[] = [];
  const field = (name: string, ok: boolean, expected: string) => {
    if (!ok) problems.push(`${flag}: ${file}: strategies[0].${name}: ${expected} (write the report with --format json)`);
  };
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(first)) problems.push(`${flag}: ${file}: strategies[0]: expected a strategy object`);
  else {
    field('name', typeof first!.name === 'string', 'expected a string');
    field('perTurn', isObject(first!.perTurn), 'missing');
    field('totals', isObject(first!.totals), 'missing');
    if (!Array.isArray(first!.turnDetails)) field('turnDetails', false, 'missing');
    else {
      first!.turnDetails.forEach((t, i) => {
        if (!isObject(t) || typeof t.turn !== 'string' || !Array.isArray(t.statements))
          problems.push(`${flag}: ${file}: strategies[0].turnDetails[${i}]: expected { turn, statements, … }`);
      });
    }
  }
  if (problems.length > 0) throw new UsageError(problems.slice(0, 10));
  return r as Report;
}

/**
 * How one turn's prompt changed: a line diff under the section it starts in when both
 * recordings kept the text (`--show-content`), else the hashes and sizes, and how to see more.
 */
function describePromptChange(before: TurnDetail, after: TurnDetail): string {
  if (typeof before.prompt === 'string' && typeof after.prompt === 'string') {
    const section = firstDifferingSection(before.prompt, after.prompt);
    return `${section === null ? '' : `section ${section}\n`}${diffPrompts(before.prompt, after.prompt)}`;
  }
  return (
    `prompt sha256 ${before.promptSha256} → ${after.promptSha256} (${before.promptBytes} → ${after.promptBytes} bytes); ` +
    'record both with --show-content to keep the prompt text and see the diff'
  );
}

/** The `## NAME` heading the first differing line falls under, if the prompt has such headings. */
function firstDifferingSection(a: string, b: string): string | null {
  const la = a.split('\n');
  const lb = b.split('\n');
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  for (let j = Math.min(i, la.length - 1); j >= 0; j--) {
    const m = /^#+\s+(.+)$/.exec(la[j]!);
    if (m) return m[1]!.trim();
  }
  return null;
}

/**
 * Puts the first strategy of each report side by side as `before` and `after` (or, when the
 * two files name different strategies, under their own names).
 *
 * @example
 * const report = await compareRecordings('before.json', 'after.json');
 */
export async function compareRecordings(beforeFile: string, afterFile: string): Promise<Report> {
  // Both files are read, and every problem of either reported, before first: never whichever failed first.
  const [readBefore, readAfter] = await Promise.allSettled([readReport('--before', beforeFile), readReport('--after', afterFile)]);
  const failures = [readBefore, readAfter].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    if (failures.every((f) => f instanceof UsageError)) throw new UsageError(failures.flatMap((f) => (f as UsageError).problems));
    throw failures[0];
  }
  const before = (readBefore as PromiseFulfilledResult<Report>).value;
  const after = (readAfter as PromiseFulfilledResult<Report>).value;
  const a = before.strategies[0]!;
  const b = after.strategies[0]!;
  const sameName = a.name === b.name;
  const left: StrategyReport = { ...a, name: sameName ? 'before' : a.name };
  const right: StrategyReport = { ...b, name: sameName ? 'after' : b.name };
  // Prompts are compared turn by turn where both sides have them (recordings have none); a turn
  // that was not compared is listed, never counted as identical.
  const hash = (t: { promptSha256?: unknown }) => (typeof t.promptSha256 === 'string' && t.promptSha256 !== '' ? t.promptSha256 : null);
  const byTurn = new Map(left.turnDetails.map((t) => [t.turn, hash(t)]));
  const afterTurns = new Set(right.turnDetails.map((t) => t.turn));
  const unchecked = {
    onlyInBefore: left.turnDetails.filter((t) => !afterTurns.has(t.turn)).map((t) => t.turn),
    onlyInAfter: [] as string[],
    noPrompt: [] as string[],
  };
  const promptless = new Set<string>();
  right.turnDetails = right.turnDetails.map((t) => {
    if (!byTurn.has(t.turn)) {
      unchecked.onlyInAfter.push(t.turn);
      return { ...t, contextIdentical: null };
    }
    const other = byTurn.get(t.turn)!;
    const mine = hash(t);
    if (other === null || mine === null) {
      unchecked.noPrompt.push(t.turn);
      // A unit neither program logged a prompt for (its setup statements, say) is not a turn whose
      // context could have changed: listed, but it does not keep the turns that were compared from ✓.
      if (other === null && mine === null) promptless.add(t.turn);
      return { ...t, contextIdentical: null };
    }
    return { ...t, contextIdentical: other === mine };
  });
  const paired = right.turnDetails.filter((t) => byTurn.has(t.turn) && !promptless.has(t.turn));
  // ✓ only when every paired turn had prompts on both sides and they were equal.
  right.contextIdentical = paired.some((t) => t.contextIdentical === false)
    ? false
    : paired.length > 0 && paired.every((t) => t.contextIdentical === true)
      ? true
      : null;
  right.difference = null;
  if (right.contextIdentical === false) {
    const t = right.turnDetails.find((x) => x.contextIdentical === false)!;
    const was = left.turnDetails.find((x) => x.turn === t.turn)!;
    right.difference = { turn: t.turn, conversationId: t.conversationId, messageId: t.messageId, diff: describePromptChange(was, t) };
  }
  left.contextIdentical = right.contextIdentical === null ? null : true;
  left.difference = null;
  const anyUnchecked = unchecked.onlyInBefore.length + unchecked.onlyInAfter.length + unchecked.noPrompt.length > 0;
  return {
    ...after,
    baseline: left.name,
    strategies: [left, right],
    contextIdentical: right.contextIdentical,
    shapeChanges: shapeChanges(a.turnDetails, b.turnDetails),
    ...(anyUnchecked ? { unchecked } : {}),
    budget: undefined,
    baselineFile: undefined,
  };
}
