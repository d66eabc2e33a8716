/**
 * Running the CLI in tests: in-process with a fresh program and captured output, or as the
 * real bin in a child process, as a user runs it.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { testCacheDir } from './backends.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The repository root (the bin's working directory). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `ctxbench …args` in-process; the environment defaults to the tests' data cache. */
export async function runInProcess(args: string[], env: NodeJS.ProcessEnv = { CTXBENCH_CACHE_DIR: testCacheDir }): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env,
    stdoutIsTTY: false,
    stderrIsTTY: false,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

/** Spawns `node bin/ctxbench.js …args` (needs dist/, which `npm test` builds first). */
export function spawnCtxbench(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/ctxbench.js', ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, CTXBENCH_CACHE_DIR: testCacheDir, NO_COLOR: '1', DATABASE_URL: '', ...env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Spawns the bin, sends `signal` once stderr shows `marker`, and returns how it ended. */
export function interruptAt(args: string[], marker: string, signal: NodeJS.Signals, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['bin/ctxbench.js', ...args], {
    cwd: repoRoot,
    env: { ...process.env, CTXBENCH_CACHE_DIR: testCacheDir, NO_COLOR: '1', DATABASE_URL: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => {
    stderr += c;
    if (!sent && stderr.includes(marker)) {
      sent = true;
      child.kill(signal);
    }
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string; sent: boolean }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, sent })),
  );
}
