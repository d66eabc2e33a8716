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

/** How the report names each section. */
const SECTION_NAMES = {
  latency: '§1 latency',
  overhead: '§2 instrumentation overhead',
  startup: '§3 embedded start',
  seeding: '§4 seeding',
  concurrency: '§5 parallel sessions',
  memory: '§6 flat memory',
  process: '§7 whole-process compare',
};

/** a − b, or null when either is missing. */
const diff = (a, b) => (a == null || b == null ? null : Math.round((a - b) * 10) / 10);

/** The backend measured through the proxy processes (a real server; PGlite takes too few connections). */
const hopBackend = (overhead) => overhead.backends.find((b) => b.proxiedMedianUs != null);

/** The rows of every section, shared by the terminal and the Markdown output. */
function sections(results) {
  const out = [];
  const { latency, overhead, startup, seeding } = results;
  const proc = results.process;
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
      key: 'latency',
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
    const first = overhead.backends[0];
    out.push({
      key: 'overhead',
      title: '2. Instrumentation overhead',
      note:
        `per statement; ${first?.statementsPerSide ?? 0} statements per side in rotating interleaved blocks of ${first?.blockSize ?? 0}: \`${overhead.sql}\`; ` +
        `tap CPU = the same statement's captured bytes replayed ${first?.tapReplay.statements ?? 0} times through a tapped vs an untapped socket, no server ` +
        `(what the measured code pays: the tap notes each chunk); parse at stop = framing, tracking and closing the records of those replayed statements when the recording is read; ` +
        `closing records = the same on the live statements (numbering, fingerprinting; once per turn, outside the timed statements)`,
      head: [
        'server',
        'raw pg p50',
        'instrumented p50',
        'difference',
        'instrumented / raw',
        'raw pg p95',
        'instrumented p95',
        'tap CPU (replay)',
        'parse at stop (replay)',
        'closing records',
        'wire bytes',
      ],
      rows: overhead.backends.map((b) => [
        server(b.kind, b.serverVersion),
        us(b.rawMedianUs),
        us(b.instrumentedMedianUs),
        us(b.differenceUs),
        x(b.ratio),
        us(b.rawP95Us),
        us(b.instrumentedP95Us),
        us(b.tapReplay.tapCpuUs),
        b.tapReplay.parseAtStopUs === undefined ? '—' : us(b.tapReplay.parseAtStopUs),
        us(b.finaliseUsPerStatement),
        int(b.wireBytesPerStatement),
      ]),
    });
    // Results written before call sites were measured have no such side.
    const sited = overhead.backends.filter((b) => b.callSites !== undefined);
    if (sited.length > 0) {
      const c = sited[0].callSites;
      out.push({
        key: 'overhead-call-sites',
        title: '2a. Call sites',
        note:
          `per statement, side by side with the rows above: the instrumented client capturing call sites (a stack of at most ${c.depth} frames per statement ` +
          `at pg's \`query\`, once pg has written the statement, while a recording is open, as under \`profile()\` and the vitest matcher) against the same client with capturing off ` +
          `(the instrumented rows: as \`compare\`'s timed builds run, which take their call sites from the untimed warm-up); CPU added = the same difference in this process's CPU time; ` +
          `capture = one capture without a server in a deeper stack, where a knex query or \`db.query\` enters ` +
          `(${c.entryDepth ?? '—'} frames, what a strategy's statements pay) and at pg's \`query\` (${c.depth} frames, a pg client or pool the user profiles); ` +
          `resolve = formatting and reading that stack to \`path:line\` when the recording is read (outside the measured time); closing records = all of closing, call sites included`,
        head: [
          'server',
          'raw pg p50',
          'instrumented p50',
          'with call sites p50',
          'call sites add',
          'CPU added',
          'with call sites / raw',
          'with call sites p95',
          'capture (knex, db.query)',
          'capture (pg)',
          'resolve',
          'closing records',
        ],
        rows: sited.map((b) => [
          server(b.kind, b.serverVersion),
          us(b.rawMedianUs),
          us(b.instrumentedMedianUs),
          us(b.callSites.medianUs),
          us(b.callSites.overInstrumentedUs),
          us(b.callSites.cpuOverInstrumentedUs),
          x(b.callSites.ratio),
          us(b.callSites.p95Us),
          us(b.callSites.entryCaptureUs),
          us(b.callSites.captureUs),
          us(b.callSites.resolveUs),
          us(b.callSites.finaliseUsPerStatement),
        ]),
      });
    }
    const hop = hopBackend(overhead);
    if (hop) {
      // Results written before the forwarder and socat sides have only the proxy's figures.
      const rows = [['direct (raw pg)', us(hop.rawMedianUs), us(hop.rawP95Us), '—', '—', '—']];
      if (hop.forwarderMedianUs !== undefined) {
        rows.push([
          'bare Node forwarder (pipes, parses nothing)',
          us(hop.forwarderMedianUs),
          us(hop.forwarderP95Us),
          us(hop.forwarderDifferenceUs),
          '—',
          us(hop.forwarderCpuUsPerStatement),
        ]);
        rows.push([
          'socat (C, a child per connection)',
          us(hop.socatMedianUs),
          us(hop.socatP95Us),
          us(hop.socatDifferenceUs),
          us(diff(hop.socatMedianUs, hop.forwarderMedianUs)),
          '—',
        ]);
      }
      rows.push([
        '`ctxbench proxy` (forwards, frames, records)',
        us(hop.proxiedMedianUs),
        us(hop.proxiedP95Us),
        us(hop.proxyDifferenceUs),
        us(hop.proxyOverForwarderUs),
        us(hop.proxyCpuUsPerStatement),
      ]);
      const cpu =
        hop.cpuResolutionUs === undefined
          ? 'hop CPU not measured by this run'
          : hop.cpuResolutionUs === null
            ? 'hop CPU not read (it needs Linux /proc and `getconf CLK_TCK`)'
            : `hop CPU = the process's user + system time (all its threads) from /proc/<pid>/stat over all the timed blocks ÷ its statements, ` +
              `one clock tick = ${us(hop.cpuResolutionUs)} per statement; socat forks a child per connection, whose time its own process does not show` +
              (hop.hopWarmupStatements == null
                ? ''
                : `; each hop first ran ${hop.hopWarmupStatements} untimed statements, while V8 compiles its hot code` +
                  (hop.proxyWarmupCpuMs != null && hop.forwarderWarmupCpuMs != null
                    ? ` (${hop.proxyWarmupCpuMs} ms of CPU for the proxy, ${hop.forwarderWarmupCpuMs} ms for the forwarder)`
                    : ''));
      out.push({
        key: 'hop',
        level: 3,
        title: '2b. Through a process in front of the server',
        note:
          `per statement on ${server(hop.kind, hop.serverVersion)} at 0 ms RTT, each path in a process of its own, measured in the same rotating blocks as the sides above ` +
          `(every side in every position); adds = p50 minus direct p50; ${cpu}` +
          (hop.socatSkipped ? `; socat skipped: ${hop.socatSkipped}` : ''),
        head: ['path', 'p50', 'p95', 'adds (p50)', 'over bare forwarder (p50)', 'hop CPU / statement'],
        rows,
      });
    }
  }
  if (startup) {
    const row = (label, s) => [label, String(s.samples), ms(s.medianMs), ms(s.startMs), ms(s.connectMs), ms(s.firstTurnMs)];
    out.push({
      key: 'startup',
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
      key: 'seeding',
      title: '4. Seeding throughput',
      note:
        `scale ${seeding.scale}, one run per target; seeding time = the seeder's own elapsed time (tables, generating and loading every row, indexes, ANALYZE), ` +
        `wall = the whole call (embedded: also dumping, compressing above 256 MiB and writing the cache; the database thread then serves what it seeded); cache on disk = the cache file it wrote${seeding.postgresSkipped ? `; PostgreSQL skipped: ${seeding.postgresSkipped}` : ''}`,
      head: ['target', 'rows', 'seeding time', 'rows/s', 'wall (incl. cache)', 'cache on disk'],
      rows: seeding.targets.map((t) => [
        server(t.kind, t.serverVersion),
        int(t.rows),
        secs(t.seconds),
        int(t.rowsPerSecond),
        secs(t.wallSeconds),
        t.cacheMiB == null ? '—' : `${t.cacheMiB.toFixed(0)} MiB`,
      ]),
    });
  }
  const { concurrency, memory } = results;
  /** What the record rows are, or why there are none (results from before they existed have no `record`). */
  const recordNote = (record, goal) => {
    if (!record) return '';
    if (record.skipped) return `; \`ctxbench record\` not measured: ${record.skipped}`;
    return (
      `; and of \`ctxbench record --format json --output FILE -- pgbench …\` (${record.tool}) on a database of its own, ` +
      `its statements kept on disk as they complete and the report folded one unit at a time: ` +
      `growth at the most statements ÷ at the fewest ${x(record.growth)}, goal ${record.goalMet ? 'met' : 'NOT met'}`
    );
  };
  if (concurrency) {
    if (concurrency.skipped) {
      out.push({
        key: 'concurrency',
        title: '5. Parallel sessions',
        note: `not measured: it needs a real PostgreSQL (${concurrency.skipped}); the embedded database runs one turn at a time`,
        head: ['K'],
        rows: [],
      });
    } else {
      out.push({
        key: 'concurrency',
        title: '5. Parallel sessions',
        note:
          `wall time of \`compare --concurrency K\` (naive, optimized and batched on the ${concurrency.paths[0]?.turns ?? '?'} fixture turns of scale ${concurrency.scale}, ` +
          `repeat ${concurrency.repeat}, from start to report) on ${server('postgres', concurrency.database.serverVersion)}, median of ${concurrency.rounds} round${concurrency.rounds === 1 ? '' : 's'} ` +
          `with K in rotating order; loopback${concurrency.rttMs ? ` and through the delaying proxy (a process of its own) at ${concurrency.rttMs} ms RTT` : ''}; ` +
          `every K gave exactly the figures of K = 1 (the run fails otherwise)`,
        head: ['path', ...concurrency.levels.map((k) => `K=${k}`), ...concurrency.levels.slice(1).map((k) => `K=${k} / K=1`)],
        rows: concurrency.paths.map((p) => [
          p.path,
          ...p.byConcurrency.map((b) => ms(b.wallMs)),
          ...p.byConcurrency.slice(1).map((b) => x(b.ratioToOne)),
        ]),
      });
    }
  }
  if (memory) {
    out.push({
      key: 'memory',
      title: '6. Flat memory',
      note:
        `peak RSS of a whole \`ctxbench compare\` process (the bin, spawned; its VmHWM on Linux) replaying generated turns with a one-statement strategy on ` +
        `${memory.database.kind === 'postgres' ? server('postgres', memory.database.serverVersion) : `the embedded database (scale ${memory.database.scale}; its WASM heap is in the process)`}, ` +
        `\`--format json --output FILE\` with every turn's statements (\`--details all\`: spilled to disk, streamed into the report); ` +
        `growth = peak at the most turns ÷ at the fewest, goal under ${x(memory.goal)}: ${memory.goalMet ? 'met' : 'NOT met'} (${x(memory.growth)})` +
        recordNote(memory.record, memory.goal),
      head: ['run', 'size', 'peak RSS', 'wall', 'report'],
      rows: [
        ...memory.runs.map((r) => ['compare', `${int(r.turns)} turns`, `${r.peakRssMiB.toFixed(1)} MiB`, secs(r.wallSeconds), `${r.reportMiB.toFixed(1)} MiB`]),
        ...(memory.record?.runs ?? []).map((r) => [
          'record',
          `${int(r.statements)} statements`,
          `${r.peakRssMiB.toFixed(1)} MiB`,
          secs(r.wallSeconds),
          `${r.reportMiB.toFixed(1)} MiB`,
        ]),
      ],
    });
  }
  if (proc) {
    const g = proc.goals;
    const mib = (v) => (v == null ? '—' : `${v.toFixed(0)} MiB`);
    const verdict = (value, goal) => (value == null ? '—' : value <= goal ? 'met' : 'not met');
    const row = (label, s, goalMs, goalRss) =>
      s == null
        ? [label, '0', '—', '—', '—', '—', '—']
        : [label, String(s.samples), ms(s.medianWallMs), mib(s.medianRssMiB), ms(s.medianCpuMs), `≤ ${ms(goalMs)}${goalRss ? `, ≤ ${mib(goalRss)}` : ''}`,
           [verdict(s.medianWallMs, goalMs), goalRss ? verdict(s.medianRssMiB, goalRss) : null].filter(Boolean).join(' / ')];
    out.push({
      key: 'process',
      title: '7. Whole-process compare',
      note:
        `\`ctxbench compare --scale ${proc.scale} --format json --output FILE\` as a user runs it, one process per sample, from spawn to exit (module loading, the database, ` +
        `the fixture turns, the report); peak RSS and CPU (user + system) of that process, read at its exit; medians; warm and --db samples interleaved; ` +
        `cold = an empty cache directory (the run seeds the dataset)${proc.dbSkipped ? `; --db skipped: ${proc.dbSkipped}` : ''}`,
      head: ['run', 'samples', 'wall', 'peak RSS', 'CPU', 'goal', 'goal met'],
      rows: [row('warm (embedded, cached)', proc.warm, g.warmMs, g.warmRssMiB), row('cold (embedded, empty cache)', proc.cold, g.coldMs), row('--db (PostgreSQL)', proc.db, g.dbMs)],
    });
    if (proc.profile) {
      out.push({
        key: 'processProfile',
        level: 3,
        title: '7b. Where a warm run spends its time',
        note: `one more warm run with \`node --cpu-prof\`: its ${proc.profile.totalMs} ms of samples on ctxbench's own thread (wall time, idle included: waiting for the database among it) grouped by the code they fell in, and the embedded database's thread beside it (rows \"database thread\"; shares of the same wall time)`,
        head: ['where', 'time', 'share'],
        rows: [...proc.profile.groups]
          .sort((a, b) => b.ms - a.ms)
          .map((grp) => [grp.name, ms(grp.ms), `${((100 * grp.ms) / proc.profile.totalMs).toFixed(0)}%`]),
      });
    }
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
  const proc = results.process;
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
    const replayed = (pgb ?? lite).tapReplay;
    parts.push(
      replayed.parseAtStopUs === undefined
        ? `replayed without a server, the tap's own CPU time is ${us(replayed.tapCpuUs)} per statement (framing and tracking ${int((pgb ?? lite).wireBytesPerStatement)} wire bytes), ` +
            `which is what a turn's latency grows by per statement it sends`
        : `replayed without a server, the tap costs the measured code ${us(replayed.tapCpuUs)} per statement (it notes the ${int((pgb ?? lite).wireBytesPerStatement)} wire bytes), ` +
            `and framing, tracking and closing the records take ${us(replayed.parseAtStopUs)} per statement when the recording is read, outside the measured time`,
    );
    const sitedPg = pgb?.callSites ?? lite?.callSites;
    if (sitedPg !== undefined) {
      const b = pgb?.callSites !== undefined ? pgb : lite;
      said['overhead-call-sites'] =
        `Call sites (a stack of at most ${sitedPg.depth} frames per statement, captured once pg has written the statement) add ${us(sitedPg.overInstrumentedUs)} to the median statement on ${b.kind === 'postgres' ? 'PostgreSQL' : 'PGlite'} ` +
        `(${x(sitedPg.ratio)} a raw round trip, ${sitedPg.ratio <= overhead.goalRatio ? 'within' : 'above'} the goal of ${x(overhead.goalRatio)})` +
        (sitedPg.cpuOverInstrumentedUs == null ? '; ' : ` and ${us(sitedPg.cpuOverInstrumentedUs)} of CPU time, which runs while the server works; `) +
        `a capture costs ${us(sitedPg.entryCaptureUs)} where a knex query or \`db.query\` enters and ${us(sitedPg.captureUs)} at pg's \`query\`, ` +
        `and resolving it ${us(sitedPg.resolveUs)} when the recording is read.`;
    }
    said.overhead = `${parts.join('; ')}.`.replace(/^./, (c) => c.toUpperCase());
    const hop = hopBackend(overhead);
    if (hop) said.hop = hopMeaning(hop, overhead.proxyGoalUs ?? 50);
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
  if (proc && proc.warm) {
    const grp = new Map((proc.profile?.groups ?? []).map((g) => [g.name, g.ms]));
    const thread = (name) => (grp.get(name) ?? 0) + (grp.get(`database thread: ${name}`) ?? 0);
    const wasm = thread('PGlite WASM (PostgreSQL itself)');
    const liteJs = thread('PGlite JavaScript (file system, protocol)');
    const w = proc.warm;
    const parts = [
      `A warm embedded \`compare\` takes ${ms(w.medianWallMs)} and peaks at ${(w.medianRssMiB ?? 0).toFixed(0)} MiB ` +
        `(goals ≤ ${ms(proc.goals.warmMs)}, ≤ ${proc.goals.warmRssMiB} MiB)`,
    ];
    if (proc.profile) {
      parts.push(
        `in its profile PGlite itself takes ${ms(wasm + liteJs)} of ${ms(proc.profile.totalMs)} (${ms(wasm)} in PostgreSQL's WASM, ${ms(liteJs)} in its JavaScript: ` +
          `unpacking the cached data directory into its in-memory file system, and the protocol) — the floor of any embedded run on this dataset`,
      );
    }
    if (w.medianExternalMiB != null) {
      parts.push(
        `ctxbench's own thread peaks at ${w.medianHeapMiB} MiB of JavaScript heap and ${w.medianExternalMiB} MiB outside it (${w.medianArrayBuffersMiB} MiB of that ArrayBuffers); ` +
          `most of the rest is the database thread: PGlite's WASM memory and its in-memory copy of the data directory (a data directory on disk would cut that, ` +
          `but needs a private copy per run, PostgreSQL writing to its files even when only reading, which costs about as long as the unpacking it saves), ` +
          `and the memory that thread frees but the main thread cannot reuse (about 50 MiB: see docs/design.md)`,
      );
    }
    if (proc.cold) parts.push(`cold, the run also seeds and caches the dataset: ${ms(proc.cold.medianWallMs)} (goal ≤ ${ms(proc.goals.coldMs)})`);
    if (proc.db) parts.push(`on PostgreSQL (\`--db\`) the same turns take ${ms(proc.db.medianWallMs)} at ${(proc.db.medianRssMiB ?? 0).toFixed(0)} MiB (goal ≤ ${ms(proc.goals.dbMs)})`);
    said.process = `${parts.join('; ')}.`;
  }
  return said;
}

/** What the proxy's figure is made of: the hop any process in between costs, and ctxbench's measuring on top. */
function hopMeaning(hop, goalUs) {
  const added = hop.proxyDifferenceUs;
  const parts = [
    `through \`ctxbench proxy\` (0 ms RTT) a statement takes ${us(added)} longer than direct (goal ≤ ${us(goalUs)}: ${added <= goalUs ? 'met' : 'not met'})`,
  ];
  if (hop.forwarderDifferenceUs !== undefined) {
    const hops = [hop.forwarderDifferenceUs, hop.socatDifferenceUs].filter((v) => v != null);
    const [low, high] = [Math.min(...hops), Math.max(...hops)];
    const range = low === high ? us(low) : `${low.toFixed(1)}–${us(high)}`;
    parts.push(
      `a bare Node forwarder that parses nothing adds ${us(hop.forwarderDifferenceUs)}` +
        (hop.socatDifferenceUs != null
          ? ` and socat (C) ${us(hop.socatDifferenceUs)}`
          : ` (socat not measured: ${hop.socatSkipped})`) +
        ` on this machine, so the hop into another process and back costs ${range} before anything is measured ` +
        `(${low <= goalUs ? 'within' : 'on its own already above'} the goal)`,
    );
    const over = hop.proxyOverForwarderUs;
    let measuring =
      over > 0
        ? `ctxbench's measuring adds ${us(over)} over the bare forwarder`
        : `ctxbench's measuring adds nothing measurable over the bare forwarder (${us(over)})`;
    if (hop.proxyCpuUsPerStatement != null && hop.forwarderCpuUsPerStatement != null) {
      measuring +=
        `; the proxy process spends ${us(hop.proxyCpuUsPerStatement)} of CPU per statement and the forwarder ${us(hop.forwarderCpuUsPerStatement)}, ` +
        `so framing, tracking and recording cost ${us(hop.proxyCpuOverForwarderUs)} of CPU beyond forwarding ` +
        `(each figure to within a clock tick, ${us(hop.cpuResolutionUs)}; replayed in process, the tap's framing and tracking take ${us(hop.tapReplay.parseAtStopUs ?? hop.tapReplay.tapCpuUs)})`;
    } else {
      measuring += " (the processes' CPU time was not read: it needs Linux /proc and `getconf CLK_TCK`)";
    }
    parts.push(measuring);
  }
  return `${parts.join('; ')}.`.replace(/^./, (c) => c.toUpperCase());
}

/** BENCHMARKS.md. */
export function renderMarkdown(results) {
  const m = results.machine;
  const said = meaning(results);
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
    ...latestUpdates(results.updates ?? []).flatMap(({ update: u, earlier }) => [
      `Re-measured later (the other sections' figures are the run above): ${u.sections.map((key) => SECTION_NAMES[key] ?? key).join(', ')} ` +
        `on ${u.startedAt}, in ${secs(u.durationMs / 1000)}, load average ${u.loadAverageAtStart?.join(' / ') ?? '?'} at the start and ` +
        `${u.loadAverageAtEnd?.join(' / ') ?? '?'} at the end${earlier > 0 ? ` (the latest of ${earlier + 1} re-measurements; its figures replace the earlier ones)` : ''}, with:`,
      '',
      '```sh',
      u.command,
      '```',
      '',
    ]),
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
    out.push(
      `${'#'.repeat(section.level ?? 2)} ${section.title}`,
      '',
      section.note.replace(/^./, (c) => c.toUpperCase()) + '.',
      '',
      markdownTable(section.head, section.rows),
      '',
    );
    if (said[section.key]) out.push(said[section.key], '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * Re-measurements of the same sections, collapsed to the latest (whose figures are the ones
 * shown), with how many earlier ones it replaced.
 */
export function latestUpdates(updates) {
  const bySections = new Map();
  for (const u of updates) {
    const key = [...u.sections].sort().join(',');
    const seen = bySections.get(key);
    bySections.set(key, { update: u, earlier: seen === undefined ? 0 : seen.earlier + 1 });
  }
  return [...bySections.values()];
}
