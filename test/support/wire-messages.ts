/**
 * PostgreSQL wire messages built by hand, for tests that drive the protocol directly
 * (pipelines, function calls, responses cut at chosen places).
 */
import net from 'node:net';

/** One wire message: type byte, length word, body. */
export function msg(type: string, ...parts: (Buffer | string | number[])[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0') : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
export const int16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
export const int32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** Parse (unnamed), Bind of one text parameter, Describe portal, Execute: what libpq pipelines per query. */
export const extended = (sql: string, param: string) =>
  Buffer.concat([
    msg('P', '', sql, int16(0)),
    msg('B', '', '', int16(0), int16(1), int32(Buffer.byteLength(param)), Buffer.from(param), int16(0)),
    msg('D', Buffer.from('P'), ''),
    msg('E', '', int32(0)),
  ]);
export const sync = msg('S');
export const parseComplete = msg('1');
export const bindComplete = msg('2');
export const noData = msg('n');
/** A one-column DataRow holding `value`. */
export const dataRow = (value: string) => msg('D', int16(1), int32(Buffer.byteLength(value)), Buffer.from(value));
export const complete = (tag: string) => msg('C', tag);
export const ready = (status: 'I' | 'T' | 'E') => msg('Z', Buffer.from(status));
export const errorResponse = (text: string) => msg('E', 'SERROR', 'C22012', 'M' + text, Buffer.from([0]));

/** A StartupMessage (protocol 3.0) with the given parameters. */
export function startupMessage(parameters: Record<string, string>): Buffer {
  const body = Buffer.concat([
    Buffer.from(int32(196608)),
    ...Object.entries(parameters).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length + 4, 0);
  return Buffer.concat([length, body]);
}

/**
 * Connects a raw socket and completes the startup phase of a trust-authenticated session
 * (resolves after its first ReadyForQuery); the socket is then ready for hand-built messages.
 */
export async function rawSession(host: string, port: number, user: string, database: string): Promise<net.Socket> {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      // Walk complete messages: fail on an ErrorResponse or a password request, stop at ReadyForQuery.
      let offset = 0;
      while (seen.length - offset >= 5) {
        const type = String.fromCharCode(seen[offset]!);
        const length = seen.readInt32BE(offset + 1);
        if (seen.length - offset < 1 + length) break;
        if (type === 'E') return done(new Error(`startup failed: ${seen.toString('utf8', offset + 5, offset + 1 + length)}`));
        if (type === 'R' && seen.readInt32BE(offset + 5) !== 0) return done(new Error('startup asked for a password'));
        offset += 1 + length;
        if (type === 'Z') {
          if (offset < seen.length) socket.unshift(seen.subarray(offset));
          return done(null);
        }
      }
    };
    const done = (error: Error | null): void => {
      socket.off('data', onData);
      socket.off('error', reject);
      socket.pause();
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve();
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(startupMessage({ user, database, application_name: 'ctxbench_raw' }));
  });
  return socket;
}

/** Reads from `socket` until `count` ReadyForQuery messages have arrived; returns everything read. */
export function readUntilReady(socket: net.Socket, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    let offset = 0;
    let readies = 0;
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      while (seen.length - offset >= 5) {
        const length = seen.readInt32BE(offset + 1);
        if (seen.length - offset < 1 + length) break;
        if (seen[offset] === 0x5a) readies += 1;
        offset += 1 + length;
      }
      if (readies >= count) {
        socket.off('data', onData);
        socket.off('error', reject);
        socket.pause();
        resolve(seen);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume();
  });
}
