/**
 * Renders benchmark results: cli-table3 tables for the terminal and BENCHMARKS.md.
 * Both read only the results object, the same one written as JSON.
 */
import Table from 'cli-table3';

const ms = (v) =>
  v == null || !Number.isFinite(v) ? '—' : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`;
const us = (v) => (v == null || !Number.isFinite(v) ? '—' : `${v.toFixed(1)} µs`);
const x = (v) => (v == null || !Number.isFinite(v) ? '—' : `${v.toFixed(2)}×`);
const int = (v) => (v == null ? '—' : Math.round(v).toLocaleString('en-US'));
const secs = (v) => (v == null ? '—' : `${v.toFixed(1)} s`);
const gib = (bytes) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
const one = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
/** A database as people name it: `PGlite 18.6`, `PostgreSQL 15.20`. */
const server = (kind, version) => `${kind === 'pglite' ? 'PGlite' : 'PostgreSQL'} ${String(version ?? '').split(' ')[0]}`.trim();

/** The rows of every section, shared by the terminal and the Markdown output. */
function sections(results) {
  const out = [];
  const { latency, overhead, startup, seeding } = results;
  if (latency) {
    const names = latency.strategies.map((s) => s.name);
    const others = names.filter((n) => n !== 'naive');
    const head = ['RTT', ...names.map((n) => `${n} p50`), ...others.map((n) => `${n} / naive`)];
    const row = (label, strategies) => {
      const by = new Map(strategies.map((s) => [s.name, s]));
      return [label, ...names.map((n) => ms(by.get(n)?.latencyMs.p50)), ...others.map((n) => x(by.get(n)?.ratioToNaive))];
    };
    const rows = latency.byRtt.map((r) => row(`${r.rttMs} ms`, r.strategies));
    rows.push(row('direct (no proxy)', latency.direct));
    const shape = new Map(latency.strategies.map((s) => [s.name, s]));
    out.push({
      title: '1. Latency per turn',
      note:
        `median (p50) per turn on ${server(latency.database.kind, latency.database.serverVersion)} (embedded), scale ${latency.scale}, ${latency.turns} turns × ${latency.repeat} repeats per figure ` +
        `(after one warm-up build per turn), strategies interleaved turn by turn; RTT through the delaying loopback proxy; ` +
        `round trips per turn: ${names.map((n) => `${n} ${one(shape.get(n).roundTripsPerTurn)}`).join(', ')}; context identical: ${latency.contextIdentical ? 'yes' : 'NO'}`,
      head,
      rows,
    });
  }
  if (overhead) {
    out.push({
      title: '2. Instrumentation overhead',
      note:
        `per statement; ${overhead.backends[0]?.statementsPerSide ?? 0} statements per side in alternating blocks of ${overhead.backends[0]?.blockSize ?? 0}: \`${overhead.sql}\`; ` +
        `tap CPU = the same statement's captured bytes replayed ${overhead.backends[0]?.tapReplay.statements ?? 0} times through a tapped vs an untapped socket, no server; ` +
        `closing records = numbering and fingerprinting when a recording stops (once per turn, outside the timed statements)`,
      head: [
        'server',
        'raw pg p50',
        'instrumented p50',
        'difference',
        'instrumented / raw',
        'tap CPU (replay)',
        'closing records',
        'wire bytes',
        'via wire proxy p50',
        'proxy adds',
      ],
      rows: overhead.backends.map((b) => [
        server(b.kind, b.serverVersion),
        us(b.rawMedianUs),
        us(b.instrumentedMedianUs),
        us(b.differenceUs),
        x(b.ratio),
        us(b.tapReplay.tapCpuUs),
        us(b.finaliseUsPerStatement),
        int(b.wireBytesPerStatement),
        b.proxiedMedianUs === undefined ? '—' : us(b.proxiedMedianUs),
        b.proxyDifferenceUs === undefined ? '—' : us(b.proxyDifferenceUs),
      ]),
    });
  }
  if (startup) {
    const row = (label, s) => [label, String(s.samples), ms(s.medianMs), ms(s.startMs), ms(s.connectMs), ms(s.firstTurnMs)];
    out.push({
      title: '3. Embedded start',
      note:
        `scale ${startup.scale}; time from nothing to the first measured turn (start the embedded server, open a session, build the first fixture turn with naive); ` +
        `cold = an empty cache directory, warm = the tarball cold left behind; in one process, so PGlite's WASM is already compiled; cold / warm = ${x(startup.coldOverWarm)}`,
      head: ['cache', 'samples', 'to first turn', 'seed/load + serve', 'connect', 'first turn'],
      rows: [row('cold (empty)', startup.cold), row('warm (cached)', startup.warm)],
    });
  }
  if (seeding) {
    out.push({
      title: '4. Seeding throughput',
      note:
        `scale ${seeding.scale}, one run per target; seeding time = the seeder's own elapsed time (tables, generating and loading every row, indexes, ANALYZE), ` +
        `wall = the whole call (embedded: also dumping, writing and reloading the cache)${seeding.postgresSkipped ? `; PostgreSQL skipped: ${seeding.postgresSkipped}` : ''}`,
      head: ['target', 'rows', 'seeding time', 'rows/s', 'wall (incl. cache)'],
      rows: seeding.targets.map((t) => [
        server(t.kind, t.serverVersion),
        int(t.rows),
        secs(t.seconds),
        int(t.rowsPerSecond),
        secs(t.wallSeconds),
      ]),
    });
  }
  return out;
}

/** The results as terminal tables. */
export function renderTables(results) {
  const lines = [];
  for (const section of sections(results)) {
    const table = new Table({ head: section.head, style: { head: [], border: [] } });
    for (const row of section.rows) table.push(row);
    lines.push(section.title, table.toString(), section.note, '');
  }
  return lines.join('\n');
}

function markdownTable(head, rows, { rightAlign = true } = {}) {
  const esc = (cell) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 || !rightAlign ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** One sentence per section on what its numbers mean, from the numbers themselves. */
function meaning(results) {
  const said = {};
  const { latency, overhead, startup, seeding } = results;
  if (latency && latency.byRtt.length > 0) {
    const first = latency.byRtt[0];
    const last = latency.byRtt[latency.byRtt.length - 1];
    const ratioOf = (r, name) => r.strategies.find((s) => s.name === name)?.ratioToNaive;
    const rt = new Map(latency.strategies.map((s) => [s.name, s.roundTripsPerTurn]));
    said.latency =
      `Naive waits for the server ${one(rt.get('naive'))} times per turn, optimized ${one(rt.get('optimized'))} and batched ${one(rt.get('batched'))}, ` +
      `so every millisecond of RTT costs naive ≈ ${Math.round(rt.get('naive'))} ms per turn and batched ≈ ${Math.round(rt.get('batched'))} ms: ` +
      `batched / naive goes from ${x(ratioOf(first, 'batched'))} at ${first.rttMs} ms to ${x(ratioOf(last, 'batched'))} at ${last.rttMs} ms ` +
      `(optimized: ${x(ratioOf(first, 'optimized'))} → ${x(ratioOf(last, 'optimized'))}) — the advantage of fewer round trips grows with the distance to the database, ` +
      `which a loopback benchmark at 0 ms hides.`;
  }
  if (overhead) {
    const pgb = overhead.backends.find((b) => b.kind === 'postgres');
    const lite = overhead.backends.find((b) => b.kind === 'pglite');
    const parts = [];
    if (pgb) {
      parts.push(
        `on PostgreSQL the tap (message framing, statement tracking, an open recording) changes the median statement by ${us(pgb.differenceUs)} ` +
          `(${x(pgb.ratio)} a raw pg round trip of ${us(pgb.rawMedianUs)}, ${pgb.ratio <= overhead.goalRatio ? 'within' : 'above'} the goal of ${x(overhead.goalRatio)})`,
      );
    }
    if (lite) {
      parts.push(
        `on PGlite a statement itself costs ${us(lite.rawMedianUs)} of in-process WASM work on the same event loop, and the tap adds ${us(lite.differenceUs)} (${x(lite.ratio)})`,
      );
    }
    const tap = (pgb ?? lite).tapReplay.tapCpuUs;
    parts.push(
      `replayed without a server, the tap's own CPU time is ${us(tap)} per statement (framing and tracking ${int((pgb ?? lite).wireBytesPerStatement)} wire bytes), ` +
        `which is what a turn's latency grows by per statement it sends`,
    );
    const viaProxy = pgb ?? lite;
    if (viaProxy?.proxyDifferenceUs !== undefined) {
      parts.push(
        `through the recording wire proxy (\`ctxbench proxy\`, 0 ms RTT) a statement takes ${us(viaProxy.proxyDifferenceUs)} longer than direct ` +
          `(${viaProxy.proxyDifferenceUs <= (overhead.proxyGoalUs ?? 50) ? 'within' : 'above'} the goal of ${us(overhead.proxyGoalUs ?? 50)})`,
      );
    }
    said.overhead = `${parts.join('; ')}.`.replace(/^./, (c) => c.toUpperCase());
  }
  if (startup) {
    said.startup =
      `The first run on a machine pays for generating and caching the ${startup.scale} dataset (${ms(startup.cold.medianMs)} to the first turn); ` +
      `every later run only loads the cached tarball (${ms(startup.warm.medianMs)}, ${x(startup.coldOverWarm)} faster), which is why the cache exists.`;
  }
  if (seeding) {
    const lite = seeding.targets.find((t) => t.kind === 'pglite');
    const server = seeding.targets.find((t) => t.kind === 'postgres');
    said.seeding = server
      ? `Both targets get the same ${int(lite.rows)} rows from the same generator; PostgreSQL's COPY FROM STDIN loads them at ${int(server.rowsPerSecond)} rows/s ` +
        `against PGlite's in-process COPY at ${int(lite.rowsPerSecond)} rows/s (${x(server.rowsPerSecond / lite.rowsPerSecond)}), ` +
        `so seeding \`${seeding.scale}\` is a one-off wait of ${secs(lite.seconds)} embedded (${secs(lite.wallSeconds)} with caching) and ${secs(server.seconds)} on a server.`
      : `PGlite's in-process COPY loads the ${int(lite.rows)} rows of \`${seeding.scale}\` at ${int(lite.rowsPerSecond)} rows/s: a one-off wait of ${secs(lite.seconds)} (${secs(lite.wallSeconds)} with caching).`;
  }
  return said;
}

/** BENCHMARKS.md. */
export function renderMarkdown(results) {
  const m = results.machine;
  const said = meaning(results);
  const keyOf = { 1: 'latency', 2: 'overhead', 3: 'startup', 4: 'seeding' };
  const out = [
    '# ctxbench benchmarks',
    '',
    'How fast ctxbench measures, and what it measures on this machine: per-turn latency of the built-in',
    'strategies at simulated network round-trip times, the cost of the wire instrumentation itself,',
    'how long the embedded database takes to start, and how fast the reference dataset seeds.',
    'Every figure is a median of repeated runs measured side by side in one process run (variants',
    'interleaved, never all of one then all of the other), except cold start and seeding, which are',
    'single runs. Latency is noisy: query, round-trip and byte counts are what CI gates on; these',
    'figures are reported, never asserted. The machine was shared with other work during the run',
    '(see the load average), so absolute times are pessimistic; ratios between interleaved variants',
    'hold up better. This file is generated by `bench/bench.mjs`; do not edit it by hand.',
    '',
    '## Command',
    '',
    '```sh',
    results.command,
    '```',
    '',
    `Mode \`${results.mode}\`, run ${results.startedAt}, took ${secs(results.durationMs / 1000)}. Raw figures: \`${results.jsonFile}\`.`,
    '',
    '## Machine',
    '',
    markdownTable(
      ['', ''],
      [
        ['CPU', `${m.cpuModel} (${m.cores} cores)`],
        ['memory', gib(m.memoryBytes)],
        ['OS', m.platform],
        ['Node.js', m.node],
        ['PGlite', `${m.pglite} (PostgreSQL ${m.pgliteServerVersion ?? '?'}), pglite-socket ${m.pgliteSocket}`],
        [
          'PostgreSQL',
          m.postgresServerVersion ? `${m.postgresServerVersion} on 127.0.0.1 (loopback)` : `not measured (${m.postgresSkipped})`,
        ],
        ['drivers', `pg ${m.pg}, knex ${m.knex}`],
        [
          'load average (1/5/15 min)',
          `${m.loadAverageAtStart?.join(' / ') ?? '?'} at the start, ${m.loadAverageAtEnd?.join(' / ') ?? '?'} at the end`,
        ],
      ],
      { rightAlign: false },
    ),
    '',
  ];
  for (const section of sections(results)) {
    const key = keyOf[section.title[0]];
    out.push(
      `## ${section.title}`,
      '',
      section.note.replace(/^./, (c) => c.toUpperCase()) + '.',
      '',
      markdownTable(section.head, section.rows),
      '',
    );
    if (said[key]) out.push(said[key], '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
