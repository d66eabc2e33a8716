/**
 * Ctrl-C and SIGTERM for the measuring commands: the first one aborts the run (the statement
 * in flight is cancelled and rolled back, and what was measured is printed, exit 130); a second
 * one quits at once.
 */
import type { CliIo } from './io.js';
import { createProgress } from './progress.js';
import { progressHandlers } from './run-options.js';

/** Exit code of an interrupted run (128 + SIGINT), as shells report it. */
export const INTERRUPTED = 130;

/** The signal handlers of one command run. */
export interface Interruption {
  /** Aborted on the first SIGINT or SIGTERM, with the signal's name as its reason. */
  readonly signal: AbortSignal;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * Installs SIGINT/SIGTERM handlers that abort `signal`; `doing` says what happens next.
 *
 * @example
 * const interruption = catchInterrupts(io, 'cancelling the statement in flight, then printing what was measured');
 * try { await run({ signal: interruption.signal }); } finally { interruption.dispose(); }
 */
export function catchInterrupts(io: CliIo, doing: string): Interruption {
  const controller = new AbortController();
  const handler = (name: string, signal: NodeJS.Signals) => () => {
    // A second signal: the user means it.
    if (controller.signal.aborted) process.exit(INTERRUPTED);
    io.stderr(`\nctxbench: ${name}: ${doing} (Ctrl-C again to quit now)\n`);
    controller.abort(signal);
  };
  const onInt = handler('interrupted', 'SIGINT');
  const onTerm = handler('terminated', 'SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** What a measured run gets from the terminal: progress callbacks and the Ctrl-C/SIGTERM signal. */
export type RunHooks = ReturnType<typeof progressHandlers> & { signal: AbortSignal };

/**
 * Runs a measuring command with a progress line on stderr and Ctrl-C/SIGTERM caught (`doing`
 * says what happens on one), both taken down whatever the run does. `onFailure` runs once the
 * progress line is gone, before the failure propagates (to write it as a JUnit failure, say).
 *
 * @example
 * const report = await withRunHooks(io, STOPPING, (hooks) => compare({ ...options, ...hooks }));
 */
export async function withRunHooks<T>(
  io: CliIo,
  doing: string,
  run: (hooks: RunHooks) => Promise<T>,
  onFailure?: (error: unknown) => Promise<void>,
): Promise<T> {
  const progress = createProgress(io);
  const interruption = catchInterrupts(io, doing);
  try {
    return await run({ ...progressHandlers(progress), signal: interruption.signal });
  } catch (error) {
    progress.stop();
    await onFailure?.(error);
    throw error;
  } finally {
    progress.stop();
    interruption.dispose();
  }
}

/** Says how much an interrupted run covers and sets exit code 130; false when it was not interrupted. */
export function reportInterrupted(report: { interrupted?: true; strategies: { turns: number }[] }, io: CliIo): boolean {
  if (!report.interrupted) return false;
  const turns = report.strategies[0]?.turns ?? 0;
  io.stderr(`ctxbench: interrupted: the report covers the ${turns} turn${turns === 1 ? '' : 's'} every strategy completed\n`);
  process.exitCode = INTERRUPTED;
  return true;
}
