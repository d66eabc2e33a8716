/**
 * A recording PostgreSQL wire proxy: a TCP proxy that forwards every byte unchanged in both
 * directions and, per client connection, measures the statements with the same
 * StatementTracker the in-process instrumentation uses. Any application, in any language, is
 * then profiled by pointing it at the proxy instead of the database.
 *
 * TLS is terminated, not passed through (an encrypted stream cannot be measured): the client
 * side is plaintext on loopback (the proxy answers a client's SSLRequest / GSSENCRequest with
 * `N` itself), and the proxy reaches the upstream in plaintext or over TLS as libpq's sslmode
 * says, before it forwards the first byte of the client's.
 *
 * Bytes are streamed chunk by chunk with backpressure: a large result is never held whole.
 * Parameter values never leave the proxy in clear (unless `showContent`): they are replaced by a
 * keyed hash before a statement is handed out (recording(), onStatement), so duplicate / N+1
 * detection still works but the recording (and any log) holds no values. The SQL is handed out
 * as sent; the report built from a recording (recordingReport) hashes its literals likewise.
 */
import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { MessageFramer, readCString } from '../wire/message-framer.js';
import { StatementTracker, parseErrorMessage, type TrackedStatement } from '../wire/statement-tracker.js';

export type { TransactionStatus } from '../wire/statement-tracker.js';

/** One statement measured by the proxy (parameter values already hashed): the tracker's figures, plus where it came from. */
export interface ProxiedStatement extends Omit<TrackedStatement<unknown>, 'tag'> {
  /** The client connection (from 1, in order of connection) that sent it. */
  connectionId: number;
}

/** What the proxy knows about one client connection. */
export interface ProxiedConnection {
  id: number;
  /** `session`: a StartupMessage was seen; `cancel`: a CancelRequest; `unknown`: nothing recognisable yet. */
  kind: 'session' | 'cancel' | 'unknown';
  /** True when the proxy reached the upstream over TLS (the client side is always plaintext). */
  upstreamTls: boolean;
  /** From the StartupMessage (never a password: passwords travel in later messages, not parsed). */
  user: string | null;
  database: string | null;
  application: string | null;
  /** Backend messages of the startup phase (authentication, parameter status, …), not statements. */
  startupMessages: number;
  startupBytes: number;
  /** Statements recorded, abandoned ones included. */
  statements: number;
  /**
   * Statements whose cycle the server never closed because the connection closed (or the
   * proxy stopped measuring it): they are recorded all the same, with the reason as their error.
   */
  abandoned: number;
  /**
   * Why the upstream could not be reached, or ended the session before it started (e.g.
   * `connect ECONNREFUSED 127.0.0.1:5432`, or `upstream db:5432 does not accept TLS
   * (sslmode=require)`), if so.
   */
  upstreamError: string | null;
  /**
   * Why the server ended a session that had started, when the client had not asked to leave:
   * its FATAL error (`terminating connection due to administrator command (SQLSTATE 57P01)`),
   * a socket error, or `the server closed the connection`.
   */
  terminated: string | null;
  /**
   * Who closed the connection first, once closed: `server` only when the client had not asked
   * to leave; `proxy` when the proxy refused a message or was stopped.
   */
  closedBy: 'client' | 'server' | 'proxy' | null;
  /**
   * Why the proxy stopped measuring the connection (its protocol could not be read), if it
   * did; the bytes kept flowing unmeasured.
   */
  trackingError: string | null;
  /** Client bytes forwarded but not measured after a tracking error (from the chunk it occurred in). */
  untrackedBytes: number;
  /** The size of a client message the proxy refused for being over `maxMessageBytes` (the connection was closed), if any. */
  refusedMessageBytes: number | null;
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

/**
 * How the proxy reaches its upstream, with libpq's meaning: `disable` plaintext; `prefer` TLS
 * when the server offers it, else plaintext; `require` TLS without verifying the certificate;
 * `verify-ca` TLS with a certificate signed by a trusted CA; `verify-full` that, and the
 * certificate names the host.
 */
export type UpstreamSslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** TLS towards the upstream (see {@link UpstreamSslMode}). */
export interface UpstreamTls {
  mode: UpstreamSslMode;
  /** The CA certificates (PEM) verify-ca and verify-full trust; default Node's bundled CAs. */
  ca?: Buffer | string;
  /** The name verify-full checks the certificate against, also sent as SNI; default the upstream host. */
  servername?: string;
  /** A client certificate (PEM) and its key, for a server that asks for one (libpq's sslcert / sslkey). */
  cert?: Buffer | string;
  key?: Buffer | string;
}

/** Options of {@link startWireProxy}. */
export interface WireProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Default `{ mode: 'prefer' }`, like libpq's default sslmode. */
  upstreamTls?: UpstreamTls;
  /**
   * How long reaching the upstream (TCP connect and TLS negotiation) may take before the client
   * is told it failed (SQLSTATE 08001); default 10 000 ms, 0 for no limit.
   */
  upstreamConnectTimeoutMs?: number;
  /** Default 127.0.0.1: the proxy speaks plaintext, so it listens on loopback unless told otherwise. */
  listenHost?: string;
  /** Default 0: an ephemeral port (read it from `port`). */
  listenPort?: number;
  /** Called for every statement as its ReadyForQuery passes through. */
  onStatement?: (statement: ProxiedStatement) => void;
  /**
   * Given, statements are handed here in batches (parameter values already hashed, off the
   * forwarding path) instead of being kept: `recording()` then hands over those still waiting
   * and lists none, so a long session's memory does not grow with its statements.
   */
  onStatements?: (batch: ProxiedStatement[]) => void;
  /** Keep parameter values in clear instead of keyed hashes (they are customer data: off by default). */
  showContent?: boolean;
  /**
   * The largest client message (bytes on the wire) the proxy accepts, default
   * {@link DEFAULT_MAX_MESSAGE_BYTES}: a larger one is refused before it is forwarded — the
   * client reads a FATAL ErrorResponse (SQLSTATE 54000) and the connection is closed — since
   * measuring it would hold it in memory (a Query's text, a Bind's parameters).
   */
  maxMessageBytes?: number;
}

/** Default {@link WireProxyOptions.maxMessageBytes}: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A running proxy. */
export interface WireProxy {
  readonly port: number;
  readonly host: string;
  /** Client connections currently open. */
  readonly openConnections: number;
  /** Stops listening and destroys every proxied connection. */
  close(): Promise<void>;
  /** A snapshot of what was recorded so far (copies: later traffic does not change it; no statements with `onStatements`). */
  recording(): ProxyRecording;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** How long reaching the upstream may take by default (libpq waits forever; a profiler should not). */
const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;
/** How many statements may hold unhashed parameter values before they are hashed, off the forwarding path. */
const SEAL_BATCH = 1000;
/** Parameters up to this many characters are hashed when the recording is read, longer ones at once. */
const LAZY_HASH_MAX_CHARS = 1024;
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
    p === null || options.showContent === true ? p : `<param:${createHmac('sha256', key).update(p).digest('hex').slice(0, 12)}>`;
  // Hashing costs a few µs per parameter: short values wait, off the forwarding path, until
  // something reads the statement, or until SEAL_BATCH of them wait (then hashed in a later
  // macrotask); long ones are hashed at once. Raw values are held for a bounded number of statements.
  const unsealed = new Set<ProxiedStatement>();
  const seal = (s: ProxiedStatement): ProxiedStatement => {
    if (unsealed.delete(s)) s.params = s.params.map(hashParam);
    return s;
  };
  let sealing = false;
  const sealLater = (): void => {
    if (sealing || unsealed.size < SEAL_BATCH) return;
    sealing = true;
    setImmediate(() => {
      sealing = false;
      for (const s of unsealed) seal(s);
    });
  };
  // With onStatements, `statements` only holds those not yet handed over (at most about a batch).
  const handOver = (): void => {
    if (statements.length === 0) return;
    const batch = statements.splice(0);
    for (const s of batch) seal(s);
    options.onStatements!(batch);
  };
  let handing = false;
  const handOverLater = (): void => {
    if (handing || statements.length < SEAL_BATCH) return;
    handing = true;
    setImmediate(() => {
      handing = false;
      handOver();
    });
  };
  let open = 0;
  /** Set by close(): connections it cuts were ended by the proxy, not by the server or the client. */
  let stopping = false;

  const server = net.createServer((client) => {
    open += 1;
    const info: ProxiedConnection = {
      id: connections.length + 1,
      kind: 'unknown',
      upstreamTls: false,
      user: null,
      database: null,
      application: null,
      startupMessages: 0,
      startupBytes: 0,
      statements: 0,
      abandoned: 0,
      upstreamError: null,
      terminated: null,
      closedBy: null,
      trackingError: null,
      untrackedBytes: 0,
      refusedMessageBytes: null,
      openedAt: new Date().toISOString(),
      closedAt: null,
    };
    connections.push(info);
    sockets.add(client);
    client.setNoDelay(true);
    /** A new TCP connection to the upstream, tracked and watched like the client. */
    const connectUpstream = (): net.Socket => {
      const socket = net.connect({ host: options.upstreamHost, port: options.upstreamPort });
      sockets.add(socket);
      socket.setNoDelay(true);
      // `on`, not `once`: a socket can emit more than one error, and an unhandled one would crash the proxy.
      socket.on('error', onUpstreamError);
      socket.once('close', onUpstreamClosed);
      return socket;
    };
    /** Replaced (once) when a TLS handshake fails under sslmode=prefer and the proxy retries in plaintext. */
    let upstream = connectUpstream();
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const session = new ProxySession(info, state, inFlight, maxMessageBytes, (tracked) => {
      let short = true;
      for (const p of tracked.params) if (p !== null && p.length > LAZY_HASH_MAX_CHARS) short = false;
      const s: ProxiedStatement = {
        connectionId: info.id,
        sql: tracked.sql,
        params: short ? tracked.params : tracked.params.map(hashParam),
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
      if (short && s.params.length > 0) {
        unsealed.add(s);
        sealLater();
      }
      if (options.onStatement) options.onStatement(seal(s));
      if (options.onStatements) handOverLater();
    }, () => (clientLeaving = true));
    /** The TLS socket over `upstream`, once the server accepted TLS. */
    let secure: tls.TLSSocket | null = null;
    /** The socket to pump once negotiated: `upstream` itself, or `secure` over it. */
    let ready: net.Socket | null = null;
    /** The client's bytes from its first message that is not a negotiation request, held until the upstream is ready. */
    let greeted: Buffer | null = null;
    let failure: UpstreamFailure | null = null;
    /** True once the pumps run (or the client was told the upstream failed). */
    let started = false;
    /** True once the upstream sent the client anything. */
    let answered = false;
    let upstreamClosed = false;
    /** The client half-closed (its Terminate, then FIN) or closed: a server closing after that is not ending the session on it. */
    let clientLeaving = false;
    let clientClosed = false;
    /** Set once a message over maxMessageBytes was refused: the client's further bytes are dropped. */
    let refused = false;
    let closedSockets = 0;
    const onClosed = (): void => {
      // Bookkeeping once both sides are gone, whichever went first.
      if (++closedSockets < 2) return;
      open -= 1;
      info.closedAt = new Date().toISOString();
      // Statements left unanswered: recorded with why, so the report counts them.
      const why = stopping
        ? 'not answered: the proxy was stopped'
        : info.refusedMessageBytes !== null
          ? `not answered: the proxy refused a ${info.refusedMessageBytes}-byte message (over --max-message-bytes ${maxMessageBytes})`
          : info.closedBy === 'server' || info.terminated !== null
            ? `not answered: the server ended the session (${info.terminated ?? 'it closed the connection'})`
            : 'not answered: the client closed the connection';
      info.abandoned += session.abandon(why);
      sockets.delete(client);
      sockets.delete(upstream);
      if (secure) sockets.delete(secure);
    };
    const destroyBoth = (): void => {
      client.destroy();
      secure?.destroy();
      upstream.destroy();
    };

    /** Forwards the held bytes, then pumps both ways; or, if the upstream could not be reached, tells the client why. */
    const proceed = (): void => {
      if (started || greeted === null || client.destroyed) return;
      if (failure !== null) {
        started = true;
        refuse(greeted, failure);
        return;
      }
      if (ready === null) return;
      started = true;
      info.upstreamTls = ready === secure;
      const full = !ready.write(greeted);
      session.fromClient(greeted);
      pump(client, ready, (chunk) => session.fromClient(chunk), (chunk) => {
        if (refused) return 0;
        const big = session.oversized(chunk);
        if (big === null) return chunk.length;
        // The upstream is dropped at once: nothing more reaches the server. Complete messages before
        // this one are still measured (their statements recorded as unanswered, with why).
        refused = true;
        refuseMessage(big.wireBytes);
        return big.offset;
      });
      pump(ready, client, (chunk) => session.fromServer(chunk));
      ready.once('data', () => (answered = true));
      // The client was paused while the upstream was negotiated; the upstream maybe after its answer.
      ready.resume();
      if (!full) client.resume();
      if (client.readableEnded) ready.end();
    };

    /** The upstream is unusable: a client that sent a StartupMessage reads an ErrorResponse, any other is just closed. */
    const refuse = (first: Buffer, why: UpstreamFailure): void => {
      // Still parsed (user, database), never forwarded.
      session.fromClient(first);
      client.on('data', (chunk: Buffer) => session.fromClient(chunk));
      if (first.readInt32BE(4) >> 16 === PROTOCOL_MAJOR_3) client.write(errorResponse(`ctxbench proxy: ${why.clientMessage}`));
      // end, not destroy: closing with unread client bytes would reset the connection before the error is read.
      client.end();
      client.resume();
    };

    /** A client message over the limit: the client reads why (SQLSTATE 54000), the upstream is dropped, the connection closed. */
    const refuseMessage = (wireBytes: number): void => {
      info.refusedMessageBytes = wireBytes;
      info.closedBy ??= 'proxy';
      if (!client.destroyed) {
        client.end(
          errorResponse(
            `ctxbench proxy: a ${wireBytes}-byte message is over the proxy's limit of ${maxMessageBytes} bytes (--max-message-bytes)`,
            '54000',
          ),
        );
      }
      secure?.destroy();
      upstream.destroy();
      // end, not destroy: the client may still be sending the message, and is read (and ignored) meanwhile.
      client.resume();
      setTimeout(() => client.destroy(), CLIENT_GRACE_MS).unref();
    };

    const fail = (why: UpstreamFailure): void => {
      // A client already gone has nobody to tell, and its leaving is what closed the upstream.
      if (started || failure !== null || client.destroyed) return;
      failure = why;
      info.upstreamError ??= why.message;
      secure?.destroy();
      upstream.destroy();
      // A client that never sends its StartupMessage is not waited for forever.
      setTimeout(() => client.destroy(), CLIENT_GRACE_MS).unref();
      proceed();
    };

    const greeting = new ClientGreeting();
    const onGreeting = (chunk: Buffer): void => {
      const { refusals, rest } = greeting.push(chunk);
      // The client side is plaintext: no to TLS, no to GSS encryption; libpq then sends its StartupMessage in clear.
      if (refusals > 0 && !client.destroyed) client.write(Buffer.alloc(refusals, 'N'));
      if (rest === null) return;
      client.off('data', onGreeting);
      client.pause();
      greeted = rest;
      proceed();
    };
    client.on('data', onGreeting);
    // A client that leaves before its first real message: nothing to forward.
    client.once('end', () => {
      clientLeaving = true;
      if (greeted === null) client.end();
    });

    // An upstream that never answers (a dropped SYN, a server stuck before its TLS answer) must not hang the client.
    const timeoutMs = options.upstreamConnectTimeoutMs ?? DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            const where = `${options.upstreamHost}:${options.upstreamPort}`;
            fail(new UpstreamFailure(`upstream ${where} did not accept the connection within ${timeoutMs} ms`));
          }, timeoutMs).unref()
        : null;
    const upstreamTls = options.upstreamTls ?? { mode: 'prefer' };
    const onTls = (s: tls.TLSSocket): void => {
      secure = s;
      sockets.add(s);
      s.on('error', onUpstreamError);
      s.once('close', onUpstreamClosed);
    };
    const negotiate = async (): Promise<net.Socket> => {
      try {
        return await negotiateUpstream(upstream, options.upstreamHost, options.upstreamPort, upstreamTls, onTls);
      } catch (error) {
        // libpq's sslmode=prefer: when TLS was offered but could not be set up, try again without it.
        const retry = upstreamTls.mode === 'prefer' && error instanceof UpstreamFailure && error.plaintextMayWork;
        if (!retry || failure !== null || client.destroyed) throw error;
        for (const old of [secure, upstream]) {
          if (old === null) continue;
          old.off('error', onUpstreamError);
          old.off('close', onUpstreamClosed);
          old.on('error', () => undefined);
          sockets.delete(old);
          old.destroy();
        }
        secure = null;
        // Should the failed connection's close already have been counted, the new one is the upstream now.
        if (upstreamClosed) {
          upstreamClosed = false;
          closedSockets -= 1;
        }
        upstream = connectUpstream();
        return negotiateUpstream(
          upstream,
          options.upstreamHost,
          options.upstreamPort,
          { ...upstreamTls, mode: 'disable' },
          onTls,
        );
      }
    };
    negotiate()
      .then(
        (socket) => {
          ready = socket;
          proceed();
        },
        (error: unknown) =>
          fail(
            error instanceof UpstreamFailure ? error : new UpstreamFailure(String(error), `upstream failed: ${String(error)}`),
          ),
      )
      .finally(() => {
        if (timer !== null) clearTimeout(timer);
      });

    // `on`, not `once`: a socket can emit more than one error, and an unhandled one would crash the proxy.
    client.on('error', () => {
      // A reset client is gone: the upstream closing next (even before the client's own close event) is not the server ending the session.
      clientLeaving = true;
      destroyBoth();
    });
    function onUpstreamError(error: Error): void {
      // Before the pumps start, negotiateUpstream reports the failure itself (with a better message).
      if (!started) return;
      // The upstream was reached and the session ran: an error now ends it, it is not a failure to reach.
      if (answered) {
        if (!stopping && !clientLeaving && !clientClosed && info.refusedMessageBytes === null) info.terminated ??= error.message;
        destroyBoth();
        return;
      }
      info.upstreamError ??= error.message;
      if (!client.destroyed) {
        // The server ended the session before answering anything (e.g. a TLS alert: it wanted a
        // client certificate): the client reads why, as it would from the server itself.
        const where = `${options.upstreamHost}:${options.upstreamPort}`;
        client.end(errorResponse(`ctxbench proxy: upstream ${where} ended the session before it started: ${error.message}`));
        secure?.destroy();
        upstream.destroy();
        return;
      }
      destroyBoth();
    }
    // The client gone, nothing can be delivered: drop the upstream at once, so the server stops
    // producing a result nobody reads (and its backend ends) instead of blocking on backpressure.
    client.once('close', () => {
      clientClosed = true;
      clientLeaving = true;
      if (!upstreamClosed && !stopping) info.closedBy ??= 'client';
      secure?.destroy();
      upstream.destroy();
      onClosed();
    });
    // The server gone: let the client read what was already forwarded (e.g. a FATAL error), then
    // close it; a client that never reads is destroyed after a grace period.
    function onUpstreamClosed(): void {
      // The TLS socket and the TCP socket under it both close: count the upstream once.
      if (upstreamClosed) return;
      upstreamClosed = true;
      if (stopping) {
        // Cut by close(): nobody ended the session on the other.
        info.closedBy ??= 'proxy';
      } else if (started && answered && !clientLeaving && info.refusedMessageBytes === null) {
        // The client had not asked to leave: the server ended the session.
        info.closedBy ??= 'server';
        info.terminated ??= 'the server closed the connection';
      } else if (!clientClosed && !stopping) {
        info.closedBy ??= clientLeaving ? 'client' : 'server';
      }
      if (started) {
        client.end();
        setTimeout(() => client.destroy(), CLIENT_GRACE_MS).unref();
      } else if (ready !== null) {
        // Negotiated, then closed before the client's StartupMessage came. (While negotiating,
        // negotiateUpstream reports a close itself, with the reason.)
        fail(
          new UpstreamFailure('upstream closed the connection', 'the upstream closed the connection before the session started'),
        );
      }
      onClosed();
    }
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
        stopping = true;
        for (const s of sockets) s.destroy();
        sockets.clear();
        server.close(() => resolve());
      }),
    recording: () => {
      if (options.onStatements) handOver();
      return {
        upstream: { host: options.upstreamHost, port: options.upstreamPort },
        serverVersion: state.serverVersion,
        statements: statements.map((s) => ({ ...seal(s), params: [...s.params] })),
        connections: connections.map((c) => ({ ...c })),
      };
    },
  };
}

/**
 * Reads the client's first untyped messages and takes the negotiation requests out: the proxy
 * answers each SSLRequest / GSSENCRequest itself, so none reaches the upstream.
 */
class ClientGreeting {
  private head = Buffer.alloc(8);
  private fill = 0;

  /**
   * Takes client bytes: how many requests to answer `N`, and, once the first other message has
   * begun (a StartupMessage, a CancelRequest, anything else), its bytes and all after (null before).
   */
  push(chunk: Buffer): { refusals: number; rest: Buffer | null } {
    let refusals = 0;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(8 - this.fill, chunk.length - offset);
      chunk.copy(this.head, this.fill, offset, offset + take);
      this.fill += take;
      offset += take;
      if (this.fill < 8) break;
      const length = this.head.readInt32BE(0);
      const code = this.head.readInt32BE(4);
      if (length === 8 && (code === SSL_REQUEST || code === GSSENC_REQUEST)) {
        // libpq may try GSS encryption, then TLS, on the same connection: each gets its answer.
        refusals += 1;
        this.fill = 0;
        continue;
      }
      return { refusals, rest: Buffer.concat([this.head, chunk.subarray(offset)]) };
    }
    return { refusals, rest: null };
  }
}

/** Why the upstream could not be used: `message` for the recording, `clientMessage` for the client's ErrorResponse. */
class UpstreamFailure extends Error {
  constructor(
    message: string,
    readonly clientMessage: string = message,
    /** TLS was offered but could not be set up: under sslmode=prefer, a plaintext connection is tried next (as libpq does). */
    readonly plaintextMayWork = false,
  ) {
    super(message);
  }
}

/**
 * A FATAL ErrorResponse, as a server sends it: by default SQLSTATE 08001
 * (sqlclient_unable_to_establish_sqlconnection).
 */
function errorResponse(message: string, sqlstate = '08001'): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlstate}\0M${message.replace(/\0/g, '')}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/**
 * Waits for `raw` to connect, then negotiates TLS as `options.mode` says; resolves with the socket
 * to pump (`raw`, or the TLS socket over it), rejects with an UpstreamFailure. Nothing of the
 * client's is sent before it resolves.
 */
async function negotiateUpstream(
  raw: net.Socket,
  host: string,
  port: number,
  options: UpstreamTls,
  onTls: (socket: tls.TLSSocket) => void,
): Promise<net.Socket> {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const { mode } = options;
  try {
    await nextEvent(raw, 'connect');
  } catch (error) {
    const reason = (error as Error).message;
    throw new UpstreamFailure(reason, `cannot reach upstream ${where}: ${reason}`);
  }
  if (mode === 'disable') return raw;
  const request = Buffer.alloc(8);
  request.writeInt32BE(8, 0);
  request.writeInt32BE(SSL_REQUEST, 4);
  raw.write(request);
  let answer: Buffer;
  try {
    answer = await firstChunk(raw);
  } catch (error) {
    throw new UpstreamFailure(`upstream ${where} failed during TLS negotiation: ${(error as Error).message}`);
  }
  const byte = String.fromCharCode(answer[0]!);
  if (byte === 'N') {
    if (mode !== 'prefer') throw new UpstreamFailure(`upstream ${where} does not accept TLS (sslmode=${mode})`);
    // Nothing should follow an N before the StartupMessage; if something did, it is the server's to deliver.
    if (answer.length > 1) raw.unshift(answer.subarray(1));
    return raw;
  }
  if (byte !== 'S') {
    throw new UpstreamFailure(`upstream ${where} answered the TLS request with ${JSON.stringify(byte)} instead of S or N`);
  }
  // Bytes after the S, before the handshake, would be read as if they had been encrypted (CVE-2021-23222).
  if (answer.length > 1) throw new UpstreamFailure(`upstream ${where} sent unencrypted bytes after accepting TLS`);
  const name = options.servername ?? host;
  // Verified below rather than by Node, so that a rejected certificate is told apart from a
  // failed handshake; nothing is sent on the socket before the checks passed.
  const socket = tls.connect({
    socket: raw,
    servername: net.isIP(name) === 0 ? name : undefined,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
  onTls(socket);
  try {
    await nextEvent(socket, 'secureConnect');
  } catch (error) {
    const message = `TLS handshake with upstream ${where} failed: ${(error as Error).message}`;
    throw new UpstreamFailure(message, message, true);
  }
  if (mode === 'verify-ca' || mode === 'verify-full') {
    if (!socket.authorized) {
      throw new UpstreamFailure(
        `upstream ${where}: TLS certificate rejected (sslmode=${mode}): ${String(socket.authorizationError)}`,
      );
    }
    // verify-ca trusts any certificate its CAs signed; verify-full also wants it to name the host.
    const mismatch = mode === 'verify-full' ? tls.checkServerIdentity(name, socket.getPeerCertificate()) : undefined;
    if (mismatch) throw new UpstreamFailure(`upstream ${where}: TLS certificate rejected (sslmode=${mode}): ${mismatch.message}`);
  }
  return socket;
}

/** Resolves on the first `event` of `socket`; rejects on an error, or a close, before it. */
function nextEvent(socket: net.Socket, event: 'connect' | 'secureConnect'): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      socket.off(event, onEvent);
      socket.off('error', done);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onEvent = (): void => done();
    const onClose = (): void => done(new Error('connection closed'));
    socket.on(event, onEvent);
    socket.on('error', done);
    socket.on('close', onClose);
  });
}

/** The first chunk `socket` receives; the socket is paused right after it, so nothing later is lost. */
function firstChunk(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      socket.pause();
      stop();
      resolve(chunk);
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    const onClose = (): void => {
      stop();
      reject(new Error('connection closed'));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/**
 * Forwards `from` to `to` chunk by chunk, observing each chunk once it is on its way; pauses `from` while
 * `to` is full, so memory stays bounded whatever the result size.
 */
function pump(
  from: net.Socket,
  to: net.Socket,
  observe: (chunk: Buffer) => void,
  admit: (chunk: Buffer) => number = (chunk) => chunk.length,
): void {
  from.on('data', (whole: Buffer) => {
    // How much of the chunk may go on (a cheap look at message lengths, nothing parsed).
    const admitted = admit(whole);
    if (admitted === 0) return;
    const chunk = admitted === whole.length ? whole : whole.subarray(0, admitted);
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
  /** Waiting for (the rest of) an untyped startup-phase message (never a negotiation request: the proxy answers those). */
  | 'untyped'
  /** Typed messages of the startup phase (passwords, SASL): forwarded, never parsed. */
  | 'startup'
  /** Past the first ReadyForQuery: measured. */
  | 'tracking'
  /** Measuring failed (a framing error): forwarded, and the client's bytes counted as untracked. */
  | 'untracked'
  /** Cancelled, or not a protocol we read: forwarded blindly. */
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
    private readonly maxMessageBytes: number,
    private readonly onStatement: (s: TrackedStatement<null>) => void,
    /** The client sent its Terminate: the server closing after it is not ending the session. */
    private readonly onClientTerminate: () => void,
  ) {}

  /**
   * Statements left unanswered (the connection closed, or measuring stopped): each is recorded
   * all the same, with `why` as its error when the server had not answered it, and the tracker
   * releases their share of the in-flight count. Returns how many.
   */
  abandon(why: string): number {
    const n =
      this.tracker?.abandon((statement, answered) => {
        if (!answered) statement.error ??= why;
        statement.status = null;
        this.onStatement(statement);
      }) ?? 0;
    this.tracker = null;
    if (this.phase === 'tracking') this.phase = 'blind';
    return n;
  }

  /** A client message in `chunk` over the size limit (where it starts, its size), or null: checked before forwarding. */
  oversized(chunk: Buffer): { offset: number; wireBytes: number } | null {
    return this.phase === 'tracking' ? this.tracker!.peekOversizedClientMessage(chunk, this.maxMessageBytes) : null;
  }

  fromClient(chunk: Buffer): void {
    if (this.phase === 'untracked') {
      this.info.untrackedBytes += chunk.length;
      return;
    }
    try {
      this.clientBytes(chunk);
    } catch (error) {
      // A framing error means we misread the protocol: keep forwarding, stop measuring, and say so.
      this.stopTracking(`client: ${(error as Error).message}`);
      this.info.untrackedBytes += chunk.length;
    }
  }

  fromServer(chunk: Buffer): void {
    if (this.phase === 'untracked') return;
    try {
      this.serverBytes(chunk);
    } catch (error) {
      this.stopTracking(`server: ${(error as Error).message}`);
    }
  }

  private stopTracking(why: string): void {
    this.info.trackingError ??= why;
    this.info.abandoned += this.abandon(`not measured: the proxy stopped reading this connection (${why})`);
    this.phase = 'untracked';
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
          // startup (passwords: never parsed), blind.
          return;
      }
    }
  }

  private serverBytes(chunk: Buffer): void {
    switch (this.phase) {
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
      // A StartupMessage is a few hundred bytes (PostgreSQL refuses one over 10 000): a huge one is not held.
      if (this.untypedRest > this.maxMessageBytes) {
        this.phase = 'blind';
        return chunk.length;
      }
      this.startupBodyLeft = this.untypedRest;
      this.startupBody = [];
      this.startupFramer = new MessageFramer(
        (type) => (type === 'Z' || type === 'S' || type === 'E' ? Infinity : 0),
        (m) => {
          // Messages after the first ReadyForQuery in the same chunk are re-framed as measured traffic.
          if (this.startupReadyAt >= 0) return;
          this.info.startupMessages += 1;
          this.info.startupBytes += m.wireBytes;
          this.serverSeen += m.wireBytes;
          // Before the first ReadyForQuery every error is FATAL: authentication failed, no such database…
          if (m.type === 'E') this.info.terminated ??= parseErrorMessage(m.head);
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
      {
        sharedInFlight: this.inFlight,
        onFatal: (error) => (this.info.terminated ??= error),
        onTerminate: () => this.onClientTerminate(),
      },
    );
    if (cut < chunk.length) this.serverTracking(chunk.subarray(cut));
  }

  private serverTracking(chunk: Buffer): void {
    this.tracker!.fromServer(chunk);
  }
}
