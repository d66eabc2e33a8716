/**
 * A connection URL from the standard libpq environment variables, for commands that reach a
 * real server (precedence everywhere: flag > DATABASE_URL > PG* variables).
 */

/**
 * Builds `postgres://…` from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE,
 * PGSSLROOTCERT, PGSSLCERT and PGSSLKEY; undefined when neither PGHOST nor PGDATABASE is set.
 *
 * @example
 * connectionUrlFromEnv({ PGHOST: 'db', PGDATABASE: 'app', PGSSLMODE: 'verify-full' }) // 'postgres://db/app?sslmode=verify-full'
 */
export function connectionUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.PGHOST && !env.PGDATABASE) return undefined;
  const url = new URL('postgres://localhost');
  // A socket directory is not a host name: fall back to TCP on localhost.
  url.hostname = env.PGHOST && !env.PGHOST.startsWith('/') ? env.PGHOST : 'localhost';
  if (env.PGPORT) url.port = env.PGPORT;
  if (env.PGUSER) url.username = encodeURIComponent(env.PGUSER);
  if (env.PGPASSWORD) url.password = encodeURIComponent(env.PGPASSWORD);
  url.pathname = `/${encodeURIComponent(env.PGDATABASE ?? env.PGUSER ?? 'postgres')}`;
  const params: [string, string | undefined][] = [
    ['sslmode', env.PGSSLMODE],
    ['sslrootcert', env.PGSSLROOTCERT],
    ['sslcert', env.PGSSLCERT],
    ['sslkey', env.PGSSLKEY],
  ];
  for (const [k, v] of params) if (v) url.searchParams.set(k, v);
  return url.toString();
}
