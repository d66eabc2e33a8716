/**
 * Section 5 — parallel sessions: the wall time of `compare --concurrency K` on PostgreSQL for
 * K = 1, 2, 4 (the built-in strategies on the fixture conversations), directly on loopback and
 * through the delaying proxy (a server across a network, where the waits K connections overlap
 * are longest), run in a process of its own: it spins for sub-millisecond precision, which in
 * this process would take the CPU the connections are measured on. Every K must give exactly K = 1's figures; the section fails if one does not.
 * K values are run in rotating order, and each figure is the median of the rounds.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { builtInStrategies, compare, seed } from '../../dist/index.js';
import { withTempDatabase } from '../lib/postgres.mjs';
import { median, ratio, round } from '../lib/stats.mjs';

/** The report without what the clock decides: what every K must reproduce. */
function exact(report) {
  return JSON.stringify(report.strategies, (key, value) => (key === 'latencyMs' || key === 'durationMs' ? undefined : value));
}

async function timeRuns({ url, levels, rounds, repeat, log, label }) {
  const wall = new Map(levels.map((k) => [k, []]));
  let reference = null;
  let turns = 0;
  // One untimed run first: the parser's WASM, the strategies' modules and the server's caches
  // load once, and would otherwise count against whichever K runs first.
  log(`  ${label}: warm-up…`);
  await compare({ url, strategies: [...builtInStrategies], repeat: 1, tokenizer: 'none' });
  for (let r = 0; r < rounds; r++) {
    // Rotate the order, so no K always runs first (cold caches) or last.
    const order = levels.map((_, i) => levels[(i + r) % levels.length]);
    for (const k of order) {
      log(`  ${label}: K=${k} (round ${r + 1}/${rounds})…`);
      const started = performance.now();
      const report = await compare({ url, strategies: [...builtInStrategies], repeat, concurrency: k, tokenizer: 'none' });
      wall.get(k).push(performance.now() - started);
      turns = report.strategies[0].turns;
      const figures = exact(report);
      reference ??= { k, figures };
      if (figures !== reference.figures) throw new Error(`concurrency: K=${k} gave other figures than K=${reference.k} (${label})`);
    }
  }
  const one = median(wall.get(levels[0]));
  return {
    path: label,
    turns,
    byConcurrency: levels.map((k) => ({
      concurrency: k,
      wallMs: round(median(wall.get(k)), 1),
      samplesMs: wall.get(k).map((v) => round(v, 1)),
      ratioToOne: ratio(median(wall.get(k)), one),
    })),
  };
}

export async function concurrencySection({ postgres, levels, rounds, repeat, rttMs, log }) {
  if (!postgres.url) return { skipped: postgres.reason, levels };
  return withTempDatabase(postgres.url, async (url) => {
    log('  seeding tiny…');
    await seed({ url, scale: 'tiny', force: true });
    const paths = [await timeRuns({ url, levels, rounds, repeat, log, label: 'loopback' })];
    // Smoke mode: loopback only.
    if (!rttMs) return { database: { kind: 'postgres', serverVersion: postgres.serverVersion }, scale: 'tiny', repeat, rounds, levels, rttMs, identical: true, paths };
    const target = new URL(url);
    const proxy = await startProxyProcess({ upstreamHost: target.hostname, upstreamPort: Number(target.port || 5432), rttMs });
    try {
      const proxied = new URL(url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(proxy.port);
      paths.push(await timeRuns({ url: proxied.toString(), levels, rounds, repeat, log, label: `RTT ${rttMs} ms` }));
    } finally {
      await proxy.close();
    }
    return {
      database: { kind: 'postgres', serverVersion: postgres.serverVersion },
      scale: 'tiny',
      repeat,
      rounds,
      levels,
      rttMs,
      identical: true,
      paths,
    };
  });
}

/** The delaying proxy in a child process; resolves once it listens, with its port and a close(). */
async function startProxyProcess(options) {
  const code =
    `import { startDelayProxy } from ${JSON.stringify(new URL('../../dist/core/net/delay-proxy.js', import.meta.url).href)};` +
    `const p = await startDelayProxy(${JSON.stringify(options)}); process.stdout.write(p.port + '\\n');` +
    `process.stdin.on('end', () => p.close().then(() => process.exit(0))); process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  while (!out.includes('\n')) {
    const [chunk] = await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => { throw new Error('concurrency: the delay proxy process exited'); })]);
    out += chunk;
  }
  return {
    port: Number(out.trim()),
    async close() {
      child.stdin.end();
      await once(child, 'exit');
    },
  };
}
