/**
 * Section 1 — latency per turn of the built-in strategies at several simulated round-trip
 * times, through `compare` (the delaying loopback proxy measures the RTT, nothing is added
 * by arithmetic). `compare` builds every strategy on a turn before moving to the next turn,
 * so the strategies are measured side by side; each figure is the p50 over turns × repeats.
 */
import { builtInStrategies, compare } from '../../dist/index.js';
import { ratio, round } from '../lib/stats.mjs';

const BASELINE = 'naive';

function latency(summary) {
  return { p50: round(summary.p50), p95: round(summary.p95), max: round(summary.max) };
}

/** Per RTT: every strategy's latency and its p50 as a ratio of the baseline's p50. */
function withRatios(strategies) {
  const base = strategies.find((s) => s.name === BASELINE)?.latencyMs.p50;
  return strategies.map((s) => ({ name: s.name, latencyMs: latency(s.latencyMs), ratioToNaive: ratio(s.latencyMs.p50, base) }));
}

export async function latencySection({ scale, repeat, rtts, log }) {
  const strategies = [...builtInStrategies];
  const report = await compare({
    strategies,
    scale,
    repeat,
    rtt: rtts,
    baseline: BASELINE,
    onEvent: (event) => {
      if (event.kind === 'seeding') log(`  seeding the ${event.scale} dataset (first use; cached afterwards)…`);
    },
  });
  const turns = report.strategies[0]?.turns ?? 0;
  return {
    scale: report.dataset?.scale ?? scale,
    seed: report.dataset?.seed ?? null,
    database: { kind: report.database.kind, serverVersion: report.database.serverVersion },
    repeat: report.repeat,
    turns,
    samplesPerFigure: turns * report.repeat,
    contextIdentical: report.contextIdentical,
    strategies: report.strategies.map((s) => ({
      name: s.name,
      queriesPerTurn: round(s.perTurn.queries),
      roundTripsPerTurn: round(s.perTurn.roundTrips),
      bytesPerTurn: round(s.perTurn.bytes, 0),
      contextIdentical: s.contextIdentical,
    })),
    // Without the proxy (the connection compare's main table measures).
    direct: withRatios(report.strategies.map((s) => ({ name: s.name, latencyMs: s.perTurn.latencyMs }))),
    byRtt: (report.latencyByRtt ?? []).map((entry) => ({ rttMs: entry.rttMs, strategies: withRatios(entry.strategies) })),
  };
}
