import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRtts, startDelayProxy, type DelayProxy } from '../../src/core/net/delay-proxy.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

describe.each(backendKinds)('delay proxy in front of %s', (kind) => {
  let backend: TestBackend;
  let proxy: DelayProxy;
  let client: pg.Client;

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    const url = new URL(backend.url);
    proxy = await startDelayProxy({ upstreamHost: url.hostname, upstreamPort: Number(url.port || 5432), rttMs: 20 });
    url.port = String(proxy.port);
    client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await proxy?.close();
    await backend?.close();
  });

  it('adds its round-trip time to every statement (a lower bound only: this machine is shared)', async () => {
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const result = await client.query('select 1 as one');
      const elapsed = performance.now() - started;
      expect(result.rows).toEqual([{ one: 1 }]);
      expect(elapsed).toBeGreaterThanOrEqual(20);
    }
  });

  it('forwards every byte unchanged, both ways', async () => {
    const { rows } = await client.query(`select repeat('ب', 100000) as big`);
    expect(rows[0].big).toBe('ب'.repeat(100000));
  });
});

describe('--rtt values', () => {
  it('parses milliseconds and lists, rejects anything else', () => {
    expect(parseRtts('2ms')).toEqual([2]);
    expect(parseRtts('0,1.5ms, 5')).toEqual([0, 1.5, 5]);
    expect(parseRtts('fast')).toBeNull();
    expect(parseRtts('-1')).toBeNull();
    expect(parseRtts('')).toBeNull();
  });
});
