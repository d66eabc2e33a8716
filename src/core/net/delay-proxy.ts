/**
 * A delaying loopback TCP proxy: every chunk is forwarded RTT/2 after it arrived, in each
 * direction, in order. Latency over a slow network is then measured through real sockets
 * instead of being added by arithmetic (docs/design.md §5): pipelined statements share one delay,
 * sequential ones pay it each time, exactly as on a real network.
 */
import net from 'node:net';

/** A running proxy. */
export interface DelayProxy {
  /** Port on 127.0.0.1 to connect to instead of the upstream. */
  readonly port: number;
  readonly rttMs: number;
  close(): Promise<void>;
}

/** Options of {@link startDelayProxy}. */
export interface DelayProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Round-trip time to add, milliseconds (each direction gets half). */
  rttMs: number;
}

/**
 * Forwards chunks one way, each due at its arrival time + delay. Timers fire up to a
 * millisecond late, so the last stretch is awaited with setImmediate: precise to well under
 * a millisecond at the cost of a little CPU while a chunk is due.
 */
class DelayedPipe {
  private readonly queue: { due: number; chunk: Buffer }[] = [];
  private scheduled = false;
  private ended = false;

  constructor(
    private readonly to: net.Socket,
    private readonly delayMs: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.delayMs === 0 && this.queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    this.queue.push({ due: performance.now() + this.delayMs, chunk });
    this.schedule();
  }

  end(): void {
    this.ended = true;
    if (this.queue.length === 0) this.to.end();
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    const wait = this.queue[0]!.due - performance.now();
    const tick = (): void => {
      this.scheduled = false;
      this.flush();
    };
    if (wait > 2) setTimeout(tick, wait - 1.5);
    else setImmediate(tick);
  }

  private flush(): void {
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      if (!this.to.destroyed) this.to.write(chunk);
    }
    if (this.queue.length > 0) this.schedule();
    else if (this.ended) this.to.end();
  }
}

/**
 * Starts a proxy on 127.0.0.1 (an ephemeral port) to the upstream.
 *
 * @example
 * const proxy = await startDelayProxy({ upstreamHost: '127.0.0.1', upstreamPort: 5432, rttMs: 2 });
 * // connect to 127.0.0.1:proxy.port instead
 * await proxy.close();
 */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const half = Math.max(0, options.rttMs) / 2;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: options.upstreamHost, port: options.upstreamPort });
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const toUpstream = new DelayedPipe(upstream, half);
    const toClient = new DelayedPipe(client, half);
    client.on('data', (chunk) => toUpstream.push(chunk));
    upstream.on('data', (chunk) => toClient.push(chunk));
    client.on('end', () => toUpstream.end());
    upstream.on('end', () => toClient.end());
    // One side failing or closing takes the other down: never leak a half-open pair.
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    client.on('close', () => {
      sockets.delete(client);
      if (!upstream.destroyed) upstream.end();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (!client.destroyed) client.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    rttMs: options.rttMs,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Parses `--rtt 2ms` or `--rtt 0,1,5` (milliseconds; `ms` optional, fractions allowed).
 *
 * @example
 * parseRtts('0,1.5ms,5') // [0, 1.5, 5]
 */
export function parseRtts(text: string): number[] | null {
  const parts = text.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)\s*(ms)?$/.exec(p);
    if (!m) return null;
    const value = Number(m[1]);
    if (value > 10_000) return null;
    out.push(value);
  }
  return out.length > 0 ? out : null;
}
