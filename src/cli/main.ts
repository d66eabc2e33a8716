/**
 * The one entry point that turns errors into exit codes: a CtxbenchError prints its one-line
 * message and exits with its code; commander usage errors exit 2; anything else is a bug.
 */
import { CommanderError } from 'commander';
import { CtxbenchError, ExitCode, maskSecrets } from '../core/errors.js';
import { processIo, type CliIo } from './io.js';
import { createProgram } from './program.js';

/** Runs the CLI with `argv` (without node and script), returning the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = createProgram(io);
  process.exitCode = undefined;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return Number(process.exitCode ?? ExitCode.ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    if (error instanceof CtxbenchError) {
      for (const line of error.message.split('\n')) io.stderr(`ctxbench: ${maskSecrets(line)}\n`);
      return error.exitCode;
    }
    // A stack trace only on request: users get one line, developers set CTXBENCH_DEBUG=1.
    const message = error instanceof Error ? (io.env.CTXBENCH_DEBUG ? (error.stack ?? error.message) : error.message) : String(error);
    io.stderr(`ctxbench: internal error (a bug, please report it): ${maskSecrets(message)}\n`);
    return ExitCode.internal;
  } finally {
    process.exitCode = undefined;
  }
}

/** For the bin: run with the process's arguments and exit with the result. */
export async function main(): Promise<void> {
  // A reader that stops early (`ctxbench compare --help | head`) closes the pipe: stop quietly, as
  // command-line tools do, instead of an unhandled EPIPE trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(Number(process.exitCode ?? ExitCode.ok));
      throw error;
    });
  }
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
}
