/**
 * Running a recorded program: its exit code (128 + the signal's number when a signal ended it),
 * its output when piped, and on abort (Ctrl-C) the signal passed on, then SIGKILL after a grace
 * period, so a program that ignores the signal is never waited for forever.
 */
import { spawn } from 'node:child_process';
import { UsageError } from './errors.js';

/** How {@link runProgram} ends a program when aborted. */
export interface RunProgramOptions {
  /** Aborting passes the signal named by its reason (default SIGTERM) to the program. */
  signal?: AbortSignal;
  /** Then SIGKILL after this long (default 10 000 ms). */
  killAfterMs?: number;
}

export function runProgram(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdio: 'inherit' | 'pipe' | 'ignore',
  options: RunProgramOptions = {},
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio });
    let killer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const reason = options.signal?.reason;
      child.kill(typeof reason === 'string' && reason.startsWith('SIG') ? (reason as NodeJS.Signals) : 'SIGTERM');
      // A program that ignores the signal is not waited for forever.
      killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 10_000);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (t: string) => void (stdout += t));
    child.stderr?.setEncoding('utf8').on('data', (t: string) => void (stderr += t));
    child.once('error', (error) => reject(new UsageError(`record: cannot run "${file}": ${error.message}`)));
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      options.signal?.removeEventListener('abort', onAbort);
      const signalNumber = signal ? (osSignals[signal] ?? 1) : 0;
      resolve({ exitCode: code ?? 128 + signalNumber, stdout, stderr });
    });
  });
}

const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
