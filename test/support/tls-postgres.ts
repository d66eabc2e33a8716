/**
 * A TLS-fronted PostgreSQL for tests: a loopback server that answers a client's SSLRequest like
 * a TLS-enabled server (S, then a TLS handshake with the test certificate) and pipes the
 * decrypted stream to a real backend. Other modes answer N (a server without TLS) or close.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** Paths of the test-only certificates (test/fixtures/tls). */
export const tlsFixtures = {
  /** The CA that signed the server certificate. */
  ca: `${fixtures}ca.pem`,
  /** A CA that signed nothing here: verifying with it must fail. */
  otherCa: `${fixtures}other-ca.pem`,
  /** For CN/SAN localhost and IP 127.0.0.1. */
  cert: `${fixtures}server.pem`,
  key: `${fixtures}server-key.pem`,
  /** The CA that signed the client certificate below. */
  clientCa: `${fixtures}client-ca.pem`,
  /** A client certificate (CN postgres) and its key, for a server that asks for one. */
  clientCert: `${fixtures}client.pem`,
  clientKey: `${fixtures}client-key.pem`,
};

/**
 * `tls`: S to an SSLRequest, then TLS; `plain`: N, then plaintext; `close`: closes on an
 * SSLRequest; `broken-tls`: S, then bytes that are no TLS handshake (a client's handshake fails).
 */
export type TlsPostgresMode = 'tls' | 'plain' | 'close' | 'broken-tls';

export interface TlsPostgres {
  host: string;
  port: number;
  /** Sessions piped to the backend, by how the client reached the shim. */
  readonly sessions: { tls: number; plain: number };
  /** SSLRequests received. */
  readonly sslRequests: number;
  /** `url` (a backend URL) pointed at the shim, with these query parameters. */
  urlFor(url: string, params?: Record<string, string>): string;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;

/** Starts the shim on an ephemeral loopback port in front of `backendUrl`'s host and port. */
export async function startTlsPostgres(
  backendUrl: string,
  mode: TlsPostgresMode = 'tls',
  options: { requireClientCertFrom?: string } = {},
): Promise<TlsPostgres> {
  const backend = new URL(backendUrl);
  const backendHost = backend.hostname;
  const backendPort = Number(backend.port || 5432);
  const key = readFileSync(tlsFixtures.key);
  const cert = readFileSync(tlsFixtures.cert);
  // Like a server with `clientcert=verify-ca` in pg_hba.conf: no certificate signed by this CA, no session.
  const clientAuth = options.requireClientCertFrom
    ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(options.requireClientCertFrom) }
    : {};
  const sessions = { tls: 0, plain: 0 };
  let sslRequests = 0;
  const open = new Set<net.Socket>();

  /**
   * Pipes `front` (decrypted, if TLS) to a new backend connection, `first` bytes first. The
   * backend is connected only once the client sent something: a client that hangs up after the
   * handshake (a rejected certificate) costs no backend connection (PGlite allows few).
   */
  function pipeToBackend(front: net.Socket, first: Buffer, kind: 'tls' | 'plain'): void {
    if (first.length === 0) {
      front.once('data', (chunk: Buffer) => {
        front.pause();
        pipeToBackend(front, chunk, kind);
      });
      return;
    }
    sessions[kind] += 1;
    const back = net.connect({ host: backendHost, port: backendPort });
    open.add(back);
    back.on('error', () => front.destroy());
    front.on('error', () => back.destroy());
    back.on('close', () => {
      open.delete(back);
      front.destroy();
    });
    front.on('close', () => back.destroy());
    back.write(first);
    front.pipe(back);
    back.pipe(front);
    front.resume();
  }

  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 8) return;
      socket.off('data', onData);
      socket.pause();
      const isSslRequest = head.readInt32BE(0) === 8 && head.readInt32BE(4) === SSL_REQUEST;
      if (!isSslRequest) {
        pipeToBackend(socket, head, 'plain');
        return;
      }
      sslRequests += 1;
      if (mode === 'close') {
        socket.destroy();
        return;
      }
      if (mode === 'broken-tls') {
        // Accepts, then answers the client's hello with what is not TLS.
        socket.write('S');
        socket.once('data', () => socket.end('this is not a TLS server hello\n'));
        socket.resume();
        return;
      }
      if (mode === 'plain') {
        socket.write('N');
        pipeToBackend(socket, head.subarray(8), 'plain');
        socket.resume();
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, key, cert, ...clientAuth });
      open.add(secure);
      secure.on('error', () => socket.destroy());
      secure.on('close', () => open.delete(secure));
      pipeToBackend(secure, Buffer.alloc(0), 'tls');
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    sessions,
    get sslRequests() {
      return sslRequests;
    },
    urlFor(url, params = {}) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      for (const [name, value] of Object.entries(params)) u.searchParams.set(name, value);
      return u.toString();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
