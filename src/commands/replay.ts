/**
 * `replay`: every statement one strategy sends for one conversation, with its bytes and rows.
 */
import type { StrategyReport } from '../report/model.js';
import type { Report } from '../report/model.js';
import { loadFixtures } from '../db/fixtures.js';
import { compare, type CompareOptions } from './compare.js';

/** Options of {@link replay}: one strategy, one conversation (default: the first fixture). */
export interface ReplayOptions extends Omit<CompareOptions, 'strategies' | 'conversations' | 'baseline'> {
  strategy: CompareOptions['strategies'][number];
  conversation?: string;
}

/** The per-statement log of one strategy over one conversation. */
export interface ReplayResult {
  database: Report['database'];
  strategy: string;
  turns: StrategyReport['turnDetails'];
}

/**
 * @example
 * const { turns } = await replay({ strategy: naiveStrategy, conversation: 'fa-shop-1', scale: 'tiny' });
 * for (const t of turns) console.log(t.messageId, t.statements.length);
 */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const { strategy, conversation, ...rest } = options;
  const fixtures = rest.fixtures ?? (await loadFixtures());
  const report = await compare({
    ...rest,
    fixtures,
    strategies: [strategy],
    conversations: [conversation ?? fixtures[0]!.id],
  });
  const only = report.strategies[0]!;
  return { database: report.database, strategy: only.name, turns: only.turnDetails };
}
