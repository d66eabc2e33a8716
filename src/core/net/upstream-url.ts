/**
 * The upstream URL of the recording proxy: where it forwards to (host, port), how it reaches it
 * (sslmode, CA, client certificate, connect timeout, as libpq reads them from the URL), and the
 * URL and libpq variables a recorded program gets so that it connects to the proxy instead.
 */
import { readFile } from 'node:fs/promises';
import { UsageError, maskUrl } from '../errors.js';
import type { UpstreamSslMode, UpstreamTls } from './wire-proxy.js';

/** Host and port of a postgres:// URL (default port 5432); a UsageError naming `flag` otherwise. */
export function upstreamOf(url: string, flag = '--upstream'): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${flag}: expected a postgres:// URL, got "${maskUrl(url)}"`);
  }
  if (!/^postgres(ql)?:$/i.test(parsed.protocol))
    throw new UsageError(`${flag}: expected a postgres:// URL, got "${maskUrl(url)}"`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host, port: parsed.port ? Number(parsed.port) : 5432 };
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * The sslmode of a postgres:// URL as the proxy uses it towards the upstream: libpq's default
 * `prefer` when absent; `allow` (plaintext first, TLS if the server insists) is read as `prefer`,
 * which reaches every server `allow` reaches. A UsageError naming `flag` for any other value.
 *
 * @example
 * sslModeOf('postgres://db/app?sslmode=verify-full') // 'verify-full'
 */
export function sslModeOf(url: string, flag = '--upstream'): UpstreamSslMode {
  const raw = new URL(url).searchParams.get('sslmode');
  if (raw === null) return 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(raw))
    throw new UsageError(`${flag}: sslmode must be one of ${SSL_MODES.join(', ')}, got "${raw}"`);
  return raw === 'allow' ? 'prefer' : (raw as UpstreamSslMode);
}

/**
 * How the proxy reaches the upstream of `url`: its sslmode, the CA file its `sslrootcert`
 * names (`system`, or none: Node's bundled CAs), and the client certificate of `sslcert` /
 * `sslkey` if given. As in libpq, `require` with an sslrootcert verifies the chain like
 * `verify-ca`. UsageErrors name `flag`.
 *
 * @example
 * await upstreamTlsOf('postgres://db/app?sslmode=verify-full&sslrootcert=/etc/ca.pem')
 * // { mode: 'verify-full', ca: <the PEM>, servername: 'db' }
 */
export async function upstreamTlsOf(url: string, flag = '--upstream'): Promise<UpstreamTls> {
  const { host } = upstreamOf(url, flag);
  const params = new URL(url).searchParams;
  const read = async (name: string): Promise<Buffer | undefined> => {
    const file = params.get(name);
    if (file === null) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new UsageError(`${flag}: cannot read ${name} "${file}": ${(error as Error).message}`);
    }
  };
  const tls: UpstreamTls = { mode: sslModeOf(url, flag), servername: host };
  // A client certificate, for a server whose pg_hba.conf asks for one: both files, or neither.
  const [cert, key] = [await read('sslcert'), await read('sslkey')];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError(`${flag}: give sslcert and sslkey together (the client certificate and its key)`);
  if (cert !== undefined) Object.assign(tls, { cert, key });
  const rootCert = params.get('sslrootcert');
  if (rootCert === null || rootCert === 'system') return tls;
  tls.ca = await read('sslrootcert');
  if (tls.mode === 'require') tls.mode = 'verify-ca';
  return tls;
}

/**
 * How long the proxy may take to reach the upstream of `url`, from libpq's `connect_timeout`
 * (seconds; 0 waits forever): undefined when absent (the proxy's default). A UsageError naming
 * `flag` for anything but a whole number.
 *
 * @example
 * connectTimeoutOf('postgres://db/app?connect_timeout=5') // 5000
 */
export function connectTimeoutOf(url: string, flag = '--upstream'): number | undefined {
  const raw = new URL(url).searchParams.get('connect_timeout');
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${flag}: connect_timeout must be a whole number of seconds, got "${raw}"`);
  return Number(raw.trim()) * 1000;
}

/**
 * The upstream URL with host and port replaced by the proxy's (user, password, database and
 * other parameters kept). TLS parameters are dropped: the proxy's client side is plaintext, and
 * they describe the upstream, which the proxy reaches itself.
 */
export function proxiedUrl(upstreamUrl: string, port: number): string {
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  for (const name of [...url.searchParams.keys()]) if (/^(ssl|requiressl$)/i.test(name)) url.searchParams.delete(name);
  return url.toString();
}

/** PGUSER and PGDATABASE as the upstream URL names them (absent when it does not). */
export function libpqIdentity(upstreamUrl: string): NodeJS.ProcessEnv {
  const url = new URL(upstreamUrl);
  const env: NodeJS.ProcessEnv = {};
  if (url.username) env.PGUSER = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  return env;
}
