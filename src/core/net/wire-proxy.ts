/**
 * A recording PostgreSQL wire proxy: a TCP proxy that forwards every byte unchanged in both
 * directions and, per client connection, measures the statements with the same
 * StatementTracker the in-process instrumentation uses. Any application, in any language, is
 * then profiled by pointing it at the proxy instead of the database.
 *
 * Bytes are streamed chunk by chunk with backpressure: a large result is never held whole.
 * Parameter values are never kept in clear: they are replaced by a keyed hash at capture time,
 * so duplicate / N+1 detection still works but the recording (and any log) holds no values.
 */
import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';
import { MessageFramer, readCString } from '../wire/message-framer.js';
import { StatementTracker, type TrackedStatement } from '../wire/statement-tracker.js';

export type { TransactionStatus } from '../wire/statement-tracker.js';

/** One statement measured by the proxy (parameter values already hashed): the tracker's figures, plus where it came from. */
export interface ProxiedStatement extends Omit<TrackedStatement<unknown>, 'tag'> {
  /** The client connection (from 1, in order of connection) that sent it. */
  connectionId: number;
}

/** What the proxy knows about one client connection. */
export interface ProxiedConnection {
  id: number;
  /**
   * `session`: a StartupMessage was seen; `cancel`: a CancelRequest; `encrypted`: TLS or GSS
   * encryption was accepted, so nothing was recorded; `unknown`: nothing recognisable yet.
   */
  kind: 'session' | 'cancel' | 'encrypted' | 'unknown';
  /** True when the stream was encrypted after SSLRequest/GSSENCRequest: forwarded blindly, not recorded. */
  encrypted: boolean;
  /** From the StartupMessage (never a password: passwords travel in later messages, not parsed). */
  user: string | null;
  database: string | null;
  application: string | null;
  /** Backend messages of the startup phase (authentication, parameter status, …), not statements. */
  startupMessages: number;
  startupBytes: number;
  statements: number;
  /** Statements sent but never answered because the connection closed. */
  abandoned: number;
  /** Why the upstream side failed (e.g. `connect ECONNREFUSED 127.0.0.1:5432`), if it did. */
  upstreamError: string | null;
  openedAt: string;
  closedAt: string | null;
}

/** Everything recorded so far. */
export interface ProxyRecording {
  upstream: { host: string; port: number };
  /** `server_version` reported by the upstream during a startup, if any. */
  serverVersion: string | null;
  statements: ProxiedStatement[];
  connections: ProxiedConnection[];
}

/** Options of {@link startWireProxy}. */
export interface WireProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Default 127.0.0.1: the proxy speaks plaintext, so it listens on loopback unless told otherwise. */
  listenHost?: string;
  /** Default 0: an ephemeral port (read it from `port`). */
  listenPort?: number;
  /** Called for every statement as its ReadyForQuery passes through. */
  onStatement?: (statement: ProxiedStatement) => void;
}

/** A running proxy. */
export interface WireProxy {
  readonly port: number;
  readonly host: string;
  /** Client connections currently open. */
  readonly openConnections: number;
  /** Stops listening and destroys every proxied connection. */
  close(): Promise<void>;
  /** A snapshot of what was recorded so far (copies: later traffic does not change it). */
  recording(): ProxyRecording;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Protocol major version 3 (3.0 = 196608; later minors such as 3.2 keep the major). */
const PROTOCOL_MAJOR_3 = 3;
/** How long a client may take to read what a closed upstream last sent before it is destroyed. */
const CLIENT_GRACE_MS = 5000;

/**
 * Starts a recording proxy in front of a PostgreSQL server.
 *
 * @example
 * const proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: 5432 });
 * // point any client at 127.0.0.1:proxy.port, then:
 * const { statements } = proxy.recording();
 * await proxy.close();
 */
export async function startWireProxy(options: WireProxyOptions): Promise<WireProxy> {
  const listenHost = options.listenHost ?? '127.0.0.1';
  const statements: ProxiedStatement[] = [];
  const connections: ProxiedConnection[] = [];
  const state = { serverVersion: null as string | null };
  const sockets = new Set<net.Socket>();
  // Shared like the Recorder's: overlapping waits on several connections are one round trip.
  const inFlight = { count: 0 };
  // A key per proxy: hashes compare equal within one recording and reveal nothing across them.
  const key = randomBytes(32);
  const hashParam = (p: string | null): string | null =>
    p === null ? null : `<param:${createHmac('sha256', key).update(p).digest('hex').slice(0, 12)}>`;
  let open = 0;

  const server = net.createServer((client) => {
    open += 1;
    const info: ProxiedConnection = {
      id: connections.length + 1,
      kind: 'unknown',
      encrypted: false,
      user: null,
      database: null,
      application: null,
      startupMessages: 0,
      startupBytes: 0,
      statements: 0,
      abandoned: 0,
      upstreamError: null,
      openedAt: new Date().toISOString(),
      closedAt: null,
    };
    connections.push(info);
    const upstream = net.connect({ host: options.upstreamHost, port: options.upstreamPort });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const session = new ProxySession(info, state, inFlight, (tracked) => {
      const s: ProxiedStatement = {
        connectionId: info.id,
        sql: tracked.sql,
        params: tracked.params.map(hashParam),
        sentAt: tracked.sentAt,
        doneAt: tracked.doneAt,
        startsRoundTrip: tracked.startsRoundTrip,
        rows: tracked.rows,
        wireBytes: tracked.wireBytes,
        sentBytes: tracked.sentBytes,
        payloadBytes: tracked.payloadBytes,
        command: tracked.command,
        error: tracked.error,
        status: tracked.status,
      };
      info.statements += 1;
      statements.push(s);
      options.onStatement?.(s);
    });
    let closedSockets = 0;
    const onClosed = (): void => {
      // Bookkeeping once both sides are gone, whichever went first.
      if (++closedSockets < 2) return;
      open -= 1;
      info.closedAt = new Date().toISOString();
      info.abandoned = session.abandon();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    pump(client, upstream, (chunk) => session.fromClient(chunk));
    pump(upstream, client, (chunk) => session.fromServer(chunk));
    // `on`, not `once`: a socket can emit more than one error, and an unhandled one would crash the proxy.
    client.on('error', destroyBoth);
    upstream.on('error', (error) => {
      info.upstreamError ??= error.message;
      destroyBoth();
    });
    // The client gone, nothing can be delivered: drop the upstream at once, so the server stops
    // producing a result nobody reads (and its backend ends) instead of blocking on backpressure.
    client.once('close', () => {
      upstream.destroy();
      onClosed();
    });
    // The server gone: let the client read what was already forwarded (e.g. a FATAL error), then
    // close it; a client that never reads is destroyed after a grace period.
    upstream.once('close', () => {
      client.end();
      setTimeout(() => client.destroy(), CLIENT_GRACE_MS).unref();
      onClosed();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, an accept error (e.g. EMFILE) concerns one connection: keep serving the others.
  server.on('error', () => undefined);
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    host: listenHost,
    get openConnections() {
      return open;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        server.close(() => resolve());
      }),
    recording: () => ({
      upstream: { host: options.upstreamHost, port: options.upstreamPort },
      serverVersion: state.serverVersion,
      statements: statements.map((s) => ({ ...s, params: [...s.params] })),
      connections: connections.map((c) => ({ ...c })),
    }),
  };
}

/**
 * Forwards `from` to `to` chunk by chunk, observing each chunk once it is on its way; pauses `from` while
 * `to` is full, so memory stays bounded whatever the result size.
 */
function pump(from: net.Socket, to: net.Socket, observe: (chunk: Buffer) => void): void {
  from.on('data', (chunk: Buffer) => {
    // Forward first, measure after: the other side is not kept waiting while the chunk is parsed
    // (a statement's time then ends when its ReadyForQuery was forwarded, microseconds later).
    // The session never throws (it stops measuring instead): forwarding never depends on parsing.
    if (!to.destroyed && !to.write(chunk)) from.pause();
    observe(chunk);
  });
  to.on('drain', () => from.resume());
  // A half-close (the client's Terminate, then FIN) is passed on as one.
  from.on('end', () => {
    if (!to.destroyed) to.end();
  });
}

type ClientPhase =
  /** Waiting for (the rest of) an untyped startup-phase message. */
  | 'untyped'
  /** Sent SSLRequest/GSSENCRequest: the client waits for the server's one-byte answer. */
  | 'negotiating'
  /** Typed messages of the startup phase (passwords, SASL): forwarded, never parsed. */
  | 'startup'
  /** Past the first ReadyForQuery: measured. */
  | 'tracking'
  /** Encrypted, cancelled, or unreadable: forwarded blindly. */
  | 'blind';

/** The protocol state of one proxied connection: what to do with each direction's bytes. */
class ProxySession {
  private phase: ClientPhase = 'untyped';
  /** The untyped message being read (its first 8 bytes decide what it is). */
  private untyped = Buffer.alloc(8);
  private untypedFill = 0;
  /** Bytes of the current untyped message still to skip past its first 8. */
  private untypedRest = 0;
  /** The whole StartupMessage, for user/database (parameters only, never a password). */
  private startupBody: Buffer[] = [];
  private startupBodyLeft = 0;
  /** Backend framer during startup: finds the first ReadyForQuery and counts startup messages. */
  private startupFramer: MessageFramer | null = null;
  private startupReadyAt = -1;
  private serverSeen = 0;
  private tracker: StatementTracker<null> | null = null;

  constructor(
    private readonly info: ProxiedConnection,
    private readonly shared: { serverVersion: string | null },
    private readonly inFlight: { count: number },
    private readonly onStatement: (s: TrackedStatement<null>) => void,
  ) {}

  /** Statements left unanswered (the connection closed); releases their share of the in-flight count. */
  abandon(): number {
    const n = this.tracker?.outstanding ?? 0;
    this.inFlight.count = Math.max(0, this.inFlight.count - n);
    this.tracker = null;
    this.phase = 'blind';
    return n;
  }

  fromClient(chunk: Buffer): void {
    try {
      this.clientBytes(chunk);
    } catch {
      // A framing error means we misread the protocol: keep forwarding, stop measuring.
      this.abandon();
    }
  }

  fromServer(chunk: Buffer): void {
    try {
      this.serverBytes(chunk);
    } catch {
      this.abandon();
    }
  }

  private clientBytes(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.phase) {
        case 'untyped':
          offset = this.readUntyped(chunk, offset);
          break;
        case 'tracking':
          this.tracker!.fromClient(offset === 0 ? chunk : chunk.subarray(offset));
          return;
        default:
          // negotiating (nothing legal to send), startup (passwords: never parsed), blind.
          return;
      }
    }
  }

  private serverBytes(chunk: Buffer): void {
    switch (this.phase) {
      case 'negotiating': {
        const answer = String.fromCharCode(chunk[0]!);
        if (answer === 'S' || answer === 'G') {
          // The rest of the stream is TLS/GSS: forward blindly, record nothing.
          this.phase = 'blind';
          this.info.kind = 'encrypted';
          this.info.encrypted = true;
        } else {
          // 'N' (or an old server's error): the client goes on in plaintext with a new untyped message.
          this.phase = 'untyped';
          this.untypedFill = 0;
        }
        return;
      }
      case 'startup':
        this.serverStartup(chunk);
        return;
      case 'tracking':
        this.serverTracking(chunk);
        return;
      default:
        return;
    }
  }

  /** Reads (part of) an untyped message from the client; returns the offset after what it used. */
  private readUntyped(chunk: Buffer, offset: number): number {
    if (this.untypedFill < 8) {
      const take = Math.min(8 - this.untypedFill, chunk.length - offset);
      chunk.copy(this.untyped, this.untypedFill, offset, offset + take);
      this.untypedFill += take;
      offset += take;
      if (this.untypedFill < 8) return offset;
      const length = this.untyped.readInt32BE(0);
      const code = this.untyped.readInt32BE(4);
      this.untypedRest = Math.max(0, length - 8);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.phase = 'negotiating';
        return chunk.length;
      }
      if (code === CANCEL_REQUEST) {
        this.info.kind = 'cancel';
        this.phase = 'blind';
        return chunk.length;
      }
      if (code >> 16 !== PROTOCOL_MAJOR_3) {
        this.phase = 'blind';
        return chunk.length;
      }
      this.info.kind = 'session';
      this.startupBodyLeft = this.untypedRest;
      this.startupBody = [];
      this.startupFramer = new MessageFramer(
        (type) => (type === 'Z' || type === 'S' ? Infinity : 0),
        (m) => {
          // Messages after the first ReadyForQuery in the same chunk are re-framed as measured traffic.
          if (this.startupReadyAt >= 0) return;
          this.info.startupMessages += 1;
          this.info.startupBytes += m.wireBytes;
          this.serverSeen += m.wireBytes;
          if (m.type === 'S') {
            const [name, next] = readCString(m.head, 0);
            if (name === 'server_version') this.shared.serverVersion = readCString(m.head, next)[0];
          }
          if (m.type === 'Z' && this.startupReadyAt < 0) this.startupReadyAt = this.serverSeen;
        },
      );
    }
    // The StartupMessage's parameters: user, database, application_name (no secrets in it).
    const take = Math.min(this.startupBodyLeft, chunk.length - offset);
    if (take > 0) this.startupBody.push(Buffer.from(chunk.subarray(offset, offset + take)));
    this.startupBodyLeft -= take;
    offset += take;
    if (this.startupBodyLeft === 0) {
      this.parseStartupParameters(Buffer.concat(this.startupBody));
      this.startupBody = [];
      this.phase = 'startup';
    }
    return offset;
  }

  private parseStartupParameters(body: Buffer): void {
    let offset = 0;
    while (offset < body.length && body[offset] !== 0) {
      const [name, next] = readCString(body, offset);
      const [value, after] = readCString(body, next);
      if (name === 'user') this.info.user = value;
      if (name === 'database') this.info.database = value;
      if (name === 'application_name') this.info.application = value;
      offset = after;
    }
    this.info.database ??= this.info.user;
  }

  /** Server bytes before the first ReadyForQuery: authentication and parameters, not statements. */
  private serverStartup(chunk: Buffer): void {
    const before = this.serverSeen;
    this.startupFramer!.push(chunk);
    if (this.startupReadyAt < 0) return;
    // The first ReadyForQuery ended inside this chunk: what follows it is already measured traffic.
    const cut = this.startupReadyAt - before;
    // Messages the startup framer saw past the cut are not startup messages: they are re-framed below.
    this.startupFramer = null;
    this.phase = 'tracking';
    this.tracker = new StatementTracker<null>(
      () => null,
      (s) => this.onStatement(s),
      { sharedInFlight: this.inFlight },
    );
    if (cut < chunk.length) this.serverTracking(chunk.subarray(cut));
  }

  private serverTracking(chunk: Buffer): void {
    this.tracker!.fromServer(chunk);
  }
}
