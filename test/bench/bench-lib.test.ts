/**
 * The benchmark's own logic that needs no measuring: the order sides run in and reading a
 * process's CPU time.
 */
import { describe, expect, it } from 'vitest';

// Plain .mjs modules without type declarations: imported by URL, so they type as `any`.
const load = (file: string) => import(new URL(`../../bench/lib/${file}`, import.meta.url).href);
const { blockOrder } = await load('interleave.mjs');
const { cpuTicksFromStat } = await load('processes.mjs');

describe('blockOrder', () => {
  const sides = ['raw', 'instrumented', 'forwarder', 'socat', 'proxied'];

  it('puts every side in every position once per round of blocks', () => {
    for (let round = 0; round < 4; round++) {
      const orders = sides.map((_, i) => blockOrder(sides, round * sides.length + i));
      for (const order of orders) expect([...order].sort()).toEqual([...sides].sort());
      for (let position = 0; position < sides.length; position++) {
        expect(new Set(orders.map((order: string[]) => order[position])).size).toBe(sides.length);
      }
    }
  });

  it('gives a side a different predecessor in alternate rounds', () => {
    const before = (order: string[], side: string) => order[order.indexOf(side) - 1];
    expect(before(blockOrder(sides, 0), 'instrumented')).toBe('raw');
    expect(before(blockOrder(sides, 5), 'instrumented')).toBe('forwarder');
  });
});

describe('cpuTicksFromStat', () => {
  it('adds utime and stime, counting fields after the command name even when it holds spaces and parentheses', () => {
    const rest = Array.from({ length: 20 }, (_, i) => i + 100);
    rest[11] = 1234; // utime (field 14)
    rest[12] = 56; // stime (field 15)
    expect(cpuTicksFromStat(`4242 (node) S ${rest.slice(1).join(' ')}\n`)).toBe(1290);
    expect(cpuTicksFromStat(`4242 (a (b) c) S ${rest.slice(1).join(' ')}\n`)).toBe(1290);
  });

  it('is null for a line it cannot read', () => {
    expect(cpuTicksFromStat('4242 (node) S 1 2')).toBeNull();
  });
});
