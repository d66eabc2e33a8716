/**
 * The shard partition: every turn in exactly one shard, a conversation never split, shards
 * balanced to within one conversation, and the same selection for the same input everywhere.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { parseShard, partitionTurns, selectShard, turnSetSha256, type ShardTurn } from '../../src/core/shard.js';

/** A small deterministic PRNG (mulberry32): the same cases on every run and machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random turns: conversations of 1–9 turns, interleaved, plus turns without a conversation. */
function randomTurns(random: () => number): ShardTurn[] {
  const conversations = Math.floor(random() * 12);
  const pool: ShardTurn[] = [];
  for (let c = 0; c < conversations; c++) {
    const size = 1 + Math.floor(random() * 9);
    for (let i = 0; i < size; i++) pool.push({ conversationId: `conv-${Math.floor(random() * 1000)}-${c}` });
  }
  const loose = Math.floor(random() * 5);
  for (let i = 0; i < loose; i++) pool.push({ conversationId: null });
  // Interleave: a conversation's turns need not be adjacent in the input.
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool;
}

/** The groups a partition must keep whole: one per conversation, one per turn without one. */
function groupsOf(turns: readonly ShardTurn[]): number[][] {
  const groups = new Map<string, number[]>();
  turns.forEach((t, p) => {
    const key = t.conversationId ?? `\u0000${p}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  });
  return [...groups.values()];
}

describe('partitionTurns', () => {
  const random = prng(20261201);
  const cases = Array.from({ length: 300 }, () => ({ turns: randomTurns(random), count: 1 + Math.floor(random() * 6) }));

  it('puts every turn in exactly one shard, in input order within a shard', () => {
    for (const { turns, count } of cases) {
      const shards = partitionTurns(turns, count);
      expect(shards).toHaveLength(count);
      const all = shards.flat().sort((a, b) => a - b);
      expect(all).toEqual(turns.map((_, p) => p));
      for (const shard of shards) expect(shard).toEqual([...shard].sort((a, b) => a - b));
    }
  });

  it('keeps a conversation whole', () => {
    for (const { turns, count } of cases) {
      const shards = partitionTurns(turns, count);
      const shardOf = new Map<number, number>();
      shards.forEach((positions, s) => positions.forEach((p) => shardOf.set(p, s)));
      for (const group of groupsOf(turns)) expect(new Set(group.map((p) => shardOf.get(p))).size).toBe(1);
    }
  });

  it('balances shards to within one conversation: the fullest exceeds the emptiest by at most its smallest conversation', () => {
    let checked = 0;
    for (const { turns, count } of cases) {
      const shards = partitionTurns(turns, count);
      const groups = groupsOf(turns);
      const sizes = shards.map((s) => s.length);
      const fullest = sizes.indexOf(Math.max(...sizes));
      const inFullest = groups.filter((g) => shards[fullest]!.includes(g[0]!)).map((g) => g.length);
      const spread = Math.max(...sizes) - Math.min(...sizes);
      if (inFullest.length > 0) {
        expect(spread).toBeLessThanOrEqual(Math.min(...inFullest));
        checked += 1;
      } else expect(spread).toBe(0);
    }
    expect(checked).toBeGreaterThan(250);
  });

  it('is stable: the same input gives the same shards, pinned here so every machine agrees', () => {
    const turns: ShardTurn[] = [
      ...['a', 'a', 'a', 'b', 'b', 'c', 'c', 'c', 'c', 'd'].map((id) => ({ conversationId: id })),
      { conversationId: null },
      { conversationId: 'e' },
      { conversationId: 'e' },
    ];
    // Largest first: c(4) → 0, a(3) → 1, b(2) → 2, e(2) → 2, then d(1) → 1 (1 has 3, 2 has 4), the loose turn → 0.
    expect(partitionTurns(turns, 3)).toEqual([
      [5, 6, 7, 8, 10],
      [0, 1, 2, 9],
      [3, 4, 11, 12],
    ]);
    for (const { turns: t, count } of cases.slice(0, 50)) expect(partitionTurns(t, count)).toEqual(partitionTurns([...t], count));
    // A tie in size is broken by conversation id, not by where the conversation comes first.
    expect(partitionTurns([{ conversationId: 'z' }, { conversationId: 'y' }], 2)).toEqual([[1], [0]]);
  });

  it('leaves shards empty when there are fewer groups than shards', () => {
    expect(partitionTurns([{ conversationId: 'a' }, { conversationId: 'a' }], 3)).toEqual([[0, 1], [], []]);
    expect(partitionTurns([], 2)).toEqual([[], []]);
  });
});

describe('selectShard', () => {
  const turns = ['a', 'a', 'b', 'c', 'c', 'c'].map((id, i) => ({ label: `${id}/${i}`, turn: { id: i }, conversationId: id }));

  it('returns its turns and what merge needs to put them back', () => {
    const one = selectShard(turns, { index: 1, count: 2 });
    const two = selectShard(turns, { index: 2, count: 2 });
    expect(one.turns.map((t) => t.label)).toEqual(['c/3', 'c/4', 'c/5']);
    expect(two.turns.map((t) => t.label)).toEqual(['a/0', 'a/1', 'b/2']);
    expect(one.shard).toEqual({ index: 1, count: 2, totalTurns: 6, turnSetSha256: turnSetSha256(turns), positions: [3, 4, 5] });
    expect(two.shard.positions).toEqual([0, 1, 2]);
    expect(two.shard.turnSetSha256).toBe(one.shard.turnSetSha256);
  });

  it('fingerprints the whole turn list: another turn or another order is another set', () => {
    const sha = turnSetSha256(turns);
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(turnSetSha256([...turns].reverse())).not.toBe(sha);
    expect(turnSetSha256(turns.map((t, i) => (i === 2 ? { ...t, turn: { id: 99 } } : t)))).not.toBe(sha);
    expect(turnSetSha256(turns.map((t) => ({ ...t })))).toBe(sha);
  });
});

describe('parseShard', () => {
  it('reads i/n', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard('1/1')).toEqual({ index: 1, count: 1 });
  });

  it.each(['0/3', '4/3', '1/0', '3', 'a/b', '1/2/3', '-1/2', ''])('refuses "%s" in one line naming the flag', (text) => {
    expect(() => parseShard(text)).toThrow(UsageError);
    expect(() => parseShard(text)).toThrow(`--shard: expected i/n with 1 ≤ i ≤ n (e.g. 1/3), got "${text}"`);
  });
});
