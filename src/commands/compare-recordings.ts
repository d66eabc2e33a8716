/**
 * `compare --before a.json --after b.json`: two saved reports (recordings of an application
 * before and after a change, or two compare runs) side by side in the seed's table format.
 */
import { UsageError } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import type { Report, StrategyReport } from '../report/model.js';

async function readReport(flag: string, file: string): Promise<Report> {
  const text = await readTextFile(file, flag);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${file}: not valid JSON (${(error as Error).message})`);
  }
  const r = json as Partial<Report>;
  if (r.version !== 1 || !Array.isArray(r.strategies) || r.strategies.length === 0) {
    throw new UsageError(`${flag}: ${file} is not a ctxbench report (expected --format json output or a recording)`);
  }
  return r as Report;
}

/**
 * Puts the first strategy of each report side by side as `before` and `after` (or, when the
 * two files name different strategies, under their own names).
 *
 * @example
 * const report = await compareRecordings('before.json', 'after.json');
 */
export async function compareRecordings(beforeFile: string, afterFile: string): Promise<Report> {
  const [before, after] = await Promise.all([readReport('--before', beforeFile), readReport('--after', afterFile)]);
  const a = before.strategies[0]!;
  const b = after.strategies[0]!;
  const sameName = a.name === b.name;
  const left: StrategyReport = { ...a, name: sameName ? 'before' : a.name };
  const right: StrategyReport = { ...b, name: sameName ? 'after' : b.name };
  // Prompts are compared turn by turn when both sides have them (recordings have none).
  const byTurn = new Map(left.turnDetails.map((t) => [t.turn, t.promptSha256]));
  right.turnDetails = right.turnDetails.map((t) => {
    const other = byTurn.get(t.turn);
    return { ...t, contextIdentical: other === undefined || other === '' || t.promptSha256 === '' || other === t.promptSha256 };
  });
  right.contextIdentical = right.turnDetails.every((t) => t.contextIdentical);
  if (!right.contextIdentical && right.difference === null) {
    const t = right.turnDetails.find((x) => !x.contextIdentical)!;
    right.difference = { turn: t.turn, conversationId: t.conversationId, messageId: t.messageId, diff: `prompt sha256 ${byTurn.get(t.turn)} → ${t.promptSha256}` };
  }
  return {
    ...after,
    baseline: left.name,
    strategies: [left, right],
    contextIdentical: right.contextIdentical,
    budget: undefined,
    baselineFile: undefined,
  };
}
