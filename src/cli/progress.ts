/**
 * Progress on stderr, only when stderr is a terminal: a bar while seeding, a status line
 * while measuring. Never on stdout, so piped reports stay clean.
 */
import cliProgress from 'cli-progress';
import type { EmbeddedEvent } from '../db/embedded-server.js';
import type { RunProgress } from '../core/runner.js';
import type { CliIo } from './io.js';

export interface Progress {
  onEvent(event: EmbeddedEvent): void;
  onSeed(progress: { table: string; done: number; total: number }): void;
  onRun(progress: RunProgress): void;
  stop(): void;
}

/** The cache warnings, one line each, whether or not stderr is a terminal. */
function cacheWarning(event: EmbeddedEvent): string | null {
  if (event.kind === 'cache-invalid') return `ctxbench: ignoring the embedded database cache ${event.file}: ${event.reason}; seeding it again\n`;
  if (event.kind === 'cache-unwritable')
    return `ctxbench: cannot write the embedded database cache in ${event.dir} (${event.reason}); running uncached\n`;
  return null;
}

export function createProgress(io: CliIo): Progress {
  if (!io.stderrIsTTY) {
    return {
      onEvent(event) {
        const warning = cacheWarning(event);
        if (warning !== null) io.stderr(warning);
        if (event.kind === 'seeding') io.stderr(`ctxbench: seeding the embedded database (scale ${event.scale}, seed ${event.seed})…\n`);
      },
      onSeed() {},
      onRun() {},
      stop() {},
    };
  }
  let bar: cliProgress.SingleBar | null = null;
  let barTable = '';
  let statusShown = false;
  const clearStatus = (): void => {
    if (statusShown) io.stderr('\r\x1b[2K');
    statusShown = false;
  };
  return {
    onEvent(event) {
      const warning = cacheWarning(event);
      if (warning !== null) {
        bar?.stop();
        bar = null;
        clearStatus();
        io.stderr(warning);
      }
      if (event.kind === 'seeding') io.stderr(`seeding the embedded database (scale ${event.scale}, seed ${event.seed})\n`);
    },
    onSeed({ table, done, total }) {
      if (bar === null || barTable !== table) {
        bar?.stop();
        barTable = table;
        bar = new cliProgress.SingleBar(
          { format: `  ${table.padEnd(16)} {bar} {percentage}% {value}/{total} rows`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done);
      }
      bar.update(done);
      if (done >= total) {
        bar.stop();
        bar = null;
      }
    },
    onRun({ strategy, turn, turns }) {
      io.stderr(`\r\x1b[2Kmeasuring ${strategy}: turn ${turn}/${turns}`);
      statusShown = true;
    },
    stop() {
      bar?.stop();
      clearStatus();
    },
  };
}
