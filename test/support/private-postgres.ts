/**
 * A private PostgreSQL 15 cluster for one test file: its own temp directory and free port,
 * trust auth, `fsync=off`, and the settings a shared server cannot be given for a test (such
 * as `shared_preload_libraries = pg_stat_statements`, which needs a restart). Runs as root on
 * this machine, starting the server as the `postgres` OS user (initdb refuses root).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = process.env.CTXBENCH_TEST_PG_BIN || '/usr/lib/postgresql/15/bin';
const RUNUSER = '/usr/sbin/runuser';

export interface PrivateCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Why a private cluster cannot be started here, or null when it can. */
export function privateClusterUnavailable(): string | null {
  const missing = ['initdb', 'pg_ctl'].filter((b) => !existsSync(path.join(BIN, b)));
  if (missing.length > 0) return `needs PostgreSQL server binaries (${missing.join(', ')} in ${BIN}; set CTXBENCH_TEST_PG_BIN)`;
  if (process.getuid?.() !== 0) return 'needs root, to start a private PostgreSQL cluster as the postgres OS user';
  if (!existsSync(RUNUSER)) return `needs ${RUNUSER}, to start a private PostgreSQL cluster as the postgres OS user`;
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function asPostgres(...args: string[]): Promise<void> {
  await run(RUNUSER, ['-u', 'postgres', '--', ...args], { timeout: 120_000 });
}

/**
 * Starts a cluster; `settings` are appended to postgresql.conf.
 *
 * @example
 * const cluster = await startPrivateCluster({ shared_preload_libraries: "'pg_stat_statements'" });
 */
export async function startPrivateCluster(settings: Record<string, string> = {}): Promise<PrivateCluster> {
  const reason = privateClusterUnavailable();
  if (reason) throw new Error(reason);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-pg-'));
  const { uid, gid } = await run('id', ['-u', 'postgres']).then(async (u) => ({
    uid: Number(u.stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  }));
  await chown(dir, uid, gid);
  const data = path.join(dir, 'data');
  let started = false;
  const cleanup = async (): Promise<void> => {
    if (started) await asPostgres(path.join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await asPostgres(path.join(BIN, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync');
    const port = await freePort();
    const conf: Record<string, string> = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '20',
      shared_buffers: '16MB',
      ...settings,
    };
    await appendFile(path.join(data, 'postgresql.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}\n`).join(''));
    await asPostgres(path.join(BIN, 'pg_ctl'), '-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start');
    started = true;
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
