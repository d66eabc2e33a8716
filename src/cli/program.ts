/**
 * The commander program: a fresh one per call, so tests can run commands in-process.
 */
import { Command } from 'commander';
import { TOOL_VERSION } from '../version.js';
import { registerCheck, registerSnapshot } from './check-command.js';
import { registerCompare } from './compare-command.js';
import { registerDiagnose } from './diagnose-command.js';
import type { CliIo } from './io.js';
import { registerMerge } from './merge-command.js';
import { registerReplay } from './replay-command.js';
import { registerSeed } from './seed-command.js';
import { registerProxyCommands } from './proxy-command.js';
import { registerSweep } from './sweep-command.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  done: every context identical, within budget and baseline
  1  a budget was exceeded, a figure grew beyond the baseline, a context differs
     from the baseline strategy's, or a strategy failed
  2  bad usage or bad input (flags, fixtures)
  3  database unreachable, refused, or timed out
  130 interrupted by Ctrl-C or SIGTERM (what was measured until then is printed)`;

export function createProgram(io: CliIo): Command {
  const program = new Command('ctxbench')
    .description('Measure what building an LLM prompt context costs in queries, round trips, bytes, rows and latency')
    .version(TOOL_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  registerCompare(program, io);
  registerCheck(program, io);
  registerSnapshot(program, io);
  registerSweep(program, io);
  registerDiagnose(program, io);
  registerMerge(program, io);
  registerReplay(program, io);
  registerSeed(program, io);
  registerProxyCommands(program, io);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
    command.addHelpText('after', EXIT_CODES_HELP);
  }
  return program;
}
