/**
 * Section 3 — time to the first measured turn with the embedded database: cold (an empty
 * cache directory: seed the dataset, cache it, load it, connect, build one turn) and warm (the
 * cached tarball: load, connect, build one turn). In one process: PGlite's WASM module is
 * already compiled by earlier sections, so neither figure includes that one-off cost.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { naiveStrategy, openSession } from '../../dist/index.js';
import { listTurns } from '../../dist/core/turns.js';
import { startEmbedded } from '../../dist/db/embedded-server.js';
import { loadFixtures } from '../../dist/db/fixtures.js';
import { resolveScale } from '../../dist/db/seed/scales.js';
import { median, ratio, round } from '../lib/stats.mjs';

/** One start: embedded server up, session open, the first fixture turn built by naive. */
async function firstTurn({ scale, cacheDir, fixtures }) {
  const started = performance.now();
  const server = await startEmbedded({ scale: resolveScale(scale), seed: 1, fixtures, cacheDir });
  const up = performance.now();
  let session;
  try {
    session = await openSession(server.url);
    const connected = performance.now();
    const [turn] = await listTurns(session.control, [fixtures[0].id]);
    const measured = await session.measure((db) => naiveStrategy.build(db, turn));
    if (measured.error !== undefined) throw measured.error;
    const done = performance.now();
    return {
      seededNow: server.seededNow,
      totalMs: done - started,
      startMs: up - started,
      connectMs: connected - up,
      firstTurnMs: done - connected,
      firstTurnQueries: measured.statements.length,
    };
  } finally {
    await session?.close();
    await server.close();
  }
}

function summarise(samples) {
  const pick = (key) => round(median(samples.map((s) => s[key])), 1);
  return {
    samples: samples.length,
    samplesMs: samples.map((s) => round(s.totalMs, 1)),
    medianMs: pick('totalMs'),
    startMs: pick('startMs'),
    connectMs: pick('connectMs'),
    firstTurnMs: pick('firstTurnMs'),
    firstTurnQueries: samples[0]?.firstTurnQueries ?? 0,
    seeded: samples.every((s) => s.seededNow),
  };
}

export async function startupSection({ scale, warmSamples, log }) {
  const fixtures = await loadFixtures();
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-start-'));
  try {
    log(`  cold (${scale}: seed + cache + first turn)…`);
    const cold = [await firstTurn({ scale, cacheDir, fixtures })];
    const warm = [];
    for (let i = 0; i < warmSamples; i++) {
      log(`  warm ${i + 1}/${warmSamples}…`);
      warm.push(await firstTurn({ scale, cacheDir, fixtures }));
    }
    if (!cold[0].seededNow || warm.some((w) => w.seededNow)) throw new Error('startup: the cache did not behave as expected');
    const coldSummary = summarise(cold);
    const warmSummary = summarise(warm);
    return { scale, cold: coldSummary, warm: warmSummary, coldOverWarm: ratio(coldSummary.medianMs, warmSummary.medianMs, 2) };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}
