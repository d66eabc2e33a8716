/**
 * Helper processes of the benchmarks: a loopback listener started as a child process
 * (`ctxbench proxy`, the bare forwarder, socat), the CPU time such a process has used, and a
 * measured run of the ctxbench bin.
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A free loopback port (briefly bound, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The full path of `command` when an executable of that name is on PATH, else null. */
export function findOnPath(command) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here: keep looking
    }
  }
  return null;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Spawns `command args…`, which must listen on 127.0.0.1:`port`; resolves when it accepts
 * connections with `{ pid, stop }`, `stop()` sending SIGINT and resolving when it has exited.
 */
export async function startListener(name, command, args, port) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let spawnError = null;
  child.once('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start listening on 127.0.0.1:${port}${spawnError ? `: ${spawnError.message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

let ticksPerSecond;

/**
 * The kernel's clock ticks per second (`getconf CLK_TCK`, asked once), the unit of the CPU
 * times in /proc/<pid>/stat; null when it cannot be confirmed, and then no CPU time is reported.
 */
export function clockTicksPerSecond() {
  if (ticksPerSecond === undefined) {
    ticksPerSecond = null;
    if (process.platform === 'linux') {
      try {
        const value = Number(
          execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
        );
        if (Number.isInteger(value) && value > 0) ticksPerSecond = value;
      } catch {
        // no getconf: leave it unknown
      }
    }
  }
  return ticksPerSecond;
}

/**
 * User plus system CPU time, in clock ticks, from the text of a /proc/<pid>/stat file. The
 * command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
 * fields are counted from the last `)`: utime and stime are fields 14 and 15.
 */
export function cpuTicksFromStat(text) {
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

/**
 * The CPU time, in milliseconds, process `pid` has used so far (all its threads: the event
 * loop, libuv's pool, the garbage collector's helpers); null off Linux or when the clock tick
 * is unknown. Resolution: one clock tick (10 ms at 100 ticks/s).
 */
export function processCpuMs(pid) {
  const ticks = clockTicksPerSecond();
  if (ticks === null || pid === undefined) return null;
  try {
    const used = cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return used === null ? null : (used * 1000) / ticks;
  } catch {
    return null;
  }
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PRELOAD = pathToFileURL(path.join(ROOT, 'bench', 'lib', 'max-rss.mjs')).href;

/**
 * Runs `ctxbench …args` (the real bin) in a process of its own, with bench/lib/max-rss.mjs
 * preloaded; resolves, once it exited 0, to its wall time (spawn to exit) and what the preload
 * wrote: its peak RSS (`peakRssBytes`, VmHWM), CPU time (`userUs`, `systemUs`) and the sampled
 * peaks of memory outside the JS heap (`peakBytes`). Rejects with the last line of its stderr.
 */
export async function runCtxbench(args, { env = {}, nodeFlags = [] } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-run-'));
  const usageFile = path.join(dir, 'usage.json');
  try {
    const started = performance.now();
    await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', PRELOAD, ...nodeFlags, path.join(ROOT, 'bin', 'ctxbench.js'), ...args], {
        cwd: ROOT,
        env: { ...process.env, ...env, CTXBENCH_BENCH_USAGE_FILE: usageFile, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`ctxbench ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').at(-1)}`)),
      );
    });
    const wallMs = performance.now() - started;
    return { wallMs, usage: JSON.parse(await readFile(usageFile, 'utf8')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
