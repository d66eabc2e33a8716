/**
 * Latency is measured, never asserted — except for what physics guarantees: through the delay
 * proxy at RTT r, k sequential round trips take at least k·r. A latency that is not measured
 * (a constant, a number from the wrong clock) fails here.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDelayProxy, type DelayProxy } from '../../src/core/net/delay-proxy.js';
import { profile } from '../../src/core/profile.js';
import { openSession } from '../../src/core/session.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

const RTT = 25;
const K = 3;

describe.each(backendKinds)('latency through a %s delay proxy is at least round trips × RTT', (kind) => {
  let backend: TestBackend;
  let proxy: DelayProxy;
  let proxiedUrl: string;

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    const url = new URL(backend.url);
    proxy = await startDelayProxy({ upstreamHost: url.hostname, upstreamPort: Number(url.port || 5432), rttMs: RTT });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    proxiedUrl = url.toString();
  });

  afterAll(async () => {
    await proxy?.close();
    await backend?.close();
  });

  it('a profiling session: the build and each statement', async () => {
    const session = await openSession(proxiedUrl);
    try {
      const m = await session.measure(async (db) => {
        for (let i = 0; i < K; i++) await db.query('select $1::int as i', [String(i)]);
      });
      expect(m.error).toBeUndefined();
      expect(m.statements.map((s) => s.roundTrip)).toEqual([1, 2, 3]);
      expect(m.latencyMs).toBeGreaterThanOrEqual(K * RTT);
      for (const s of m.statements) expect(s.durationMs).toBeGreaterThanOrEqual(RTT);
    } finally {
      await session.close();
    }
  });

  it('profile() on the caller’s own client', async () => {
    const client = new pg.Client({ connectionString: proxiedUrl });
    await client.connect();
    try {
      const result = await profile(async () => {
        for (let i = 0; i < K; i++) await client.query('select $1::int as i', [String(i)]);
      }, { client });
      expect(result.roundTrips).toBe(K);
      expect(result.latencyMs).toBeGreaterThanOrEqual(K * RTT);
      for (const s of result.statements) expect(s.durationMs).toBeGreaterThanOrEqual(RTT);
    } finally {
      await client.end();
    }
  });
});
