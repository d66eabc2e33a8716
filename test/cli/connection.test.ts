import { describe, expect, it } from 'vitest';
import { connectionUrlFromEnv } from '../../src/cli/connection.js';

describe('PG* environment variables', () => {
  it('builds a URL from the libpq variables, TLS options included', () => {
    expect(
      connectionUrlFromEnv({ PGHOST: 'db.internal', PGPORT: '6543', PGUSER: 'app', PGPASSWORD: 'p@ss w', PGDATABASE: 'prod', PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem' }),
    ).toBe('postgres://app:p%40ss%20w@db.internal:6543/prod?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem');
  });

  it('is absent without PGHOST or PGDATABASE; a socket directory falls back to localhost', () => {
    expect(connectionUrlFromEnv({ PGUSER: 'app' })).toBeUndefined();
    expect(connectionUrlFromEnv({ PGHOST: '/var/run/postgresql', PGDATABASE: 'x' })).toBe('postgres://localhost/x');
  });
});
