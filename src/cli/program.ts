/**
 * The commander program: a fresh one per call, so tests can run commands in-process.
 */
import { Command } from 'commander';
import { TOOL_VERSION } from '../version.js';
import { registerCompare } from './compare-command.js';
import type { CliIo } from './io.js';
import { registerReplay } from './replay-command.js';
import { registerSeed } from './seed-command.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  done, every context identical (and within budget)
  1  a strategy's context differs from the baseline's, or a strategy failed
  2  bad usage or bad input (flags, fixtures)
  3  database unreachable, refused, or timed out`;

export function createProgram(io: CliIo): Command {
  const program = new Command('ctxbench')
    .description('Measure what building an LLM prompt context costs in queries, round trips, bytes, rows and latency')
    .version(TOOL_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  registerCompare(program, io);
  registerReplay(program, io);
  registerSeed(program, io);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
    command.addHelpText('after', EXIT_CODES_HELP);
  }
  return program;
}
