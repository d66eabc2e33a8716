/**
 * Sharding (`--shard i/n`): a deterministic partition of a run's turns, so a CI matrix can
 * measure them in parallel and `ctxbench merge` can restore the unsharded report exactly.
 * Pure: no database, no clock, no randomness — the same turns and the same `i/n` select the
 * same turns on any machine.
 */
import { createHash } from 'node:crypto';
import { UsageError } from './errors.js';
import type { ShardInfo } from '../report/model.js';

/** Which part of how many: `index` counts from 1. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** What the partition needs to know of a turn. */
export interface ShardTurn {
  /** Turns of one conversation always stay in one shard; null: the turn is a group of its own. */
  conversationId: string | null;
}

/**
 * Parses `i/n` (1 ≤ i ≤ n). A bad value is a usage error naming the flag (exit 2).
 *
 * @example
 * parseShard('2/3') // { index: 2, count: 3 }
 */
export function parseShard(text: string, flag = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count) {
    throw new UsageError(`${flag}: expected i/n with 1 ≤ i ≤ n (e.g. 1/3), got "${text}"`);
  }
  return { index, count };
}

interface Group {
  conversationId: string | null;
  /** Positions of its turns in the input order. */
  positions: number[];
}

/**
 * Partitions turns into `count` shards and returns, per shard, the positions of its turns in
 * input order. Turns are grouped by conversation (a turn without one is a group of its own);
 * groups are placed largest first (then by conversation id in byte order, then by first
 * position) each on the shard with the fewest turns so far, the lowest index on a tie (LPT).
 * So every turn is in exactly one shard, a conversation never spans two, and any two shards
 * differ by at most the smallest conversation of the fuller one.
 *
 * @example
 * partitionTurns([{ conversationId: 'a' }, { conversationId: 'a' }, { conversationId: 'b' }], 2)
 * // [[0, 1], [2]]
 */
export function partitionTurns(turns: readonly ShardTurn[], count: number): number[][] {
  const groups: Group[] = [];
  const byConversation = new Map<string, Group>();
  turns.forEach((turn, position) => {
    const id = turn.conversationId;
    let group = id === null ? undefined : byConversation.get(id);
    if (group === undefined) {
      group = { conversationId: id, positions: [] };
      groups.push(group);
      if (id !== null) byConversation.set(id, group);
    }
    group.positions.push(position);
  });
  groups.sort(
    (a, b) =>
      b.positions.length - a.positions.length ||
      compareIds(a.conversationId, b.conversationId) ||
      a.positions[0]! - b.positions[0]!,
  );
  const shards: number[][] = Array.from({ length: count }, () => []);
  for (const group of groups) {
    let target = 0;
    for (let s = 1; s < count; s++) if (shards[s]!.length < shards[target]!.length) target = s;
    shards[target]!.push(...group.positions);
  }
  for (const shard of shards) shard.sort((a, b) => a - b);
  return shards;
}

/** Conversation ids in byte order (as `COLLATE "C"`); turns without one after those with one. */
function compareIds(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/**
 * A fingerprint of the whole, unsharded turn list (labels and turn objects, in order): shards
 * of one run carry the same one, so `merge` refuses shards cut from different turns.
 *
 * @example
 * turnSetSha256([{ label: 'c1/m1', turn: { conversationId: 'c1' } }])
 */
export function turnSetSha256(turns: readonly { label: string; turn: unknown }[]): string {
  const hash = createHash('sha256');
  for (const t of turns) hash.update(`${JSON.stringify([t.label, t.turn])}\n`);
  return hash.digest('hex');
}

/**
 * Selects one shard of `turns` and describes it for the report (`report.shard`).
 *
 * @example
 * const { turns: mine, shard } = selectShard(allTurns, { index: 1, count: 3 });
 */
export function selectShard<T extends ShardTurn & { label: string; turn: unknown }>(
  turns: readonly T[],
  spec: ShardSpec,
): { turns: T[]; shard: ShardInfo } {
  const positions = partitionTurns(turns, spec.count)[spec.index - 1]!;
  return {
    turns: positions.map((p) => turns[p]!),
    shard: {
      index: spec.index,
      count: spec.count,
      totalTurns: turns.length,
      turnSetSha256: turnSetSha256(turns),
      positions,
    },
  };
}
