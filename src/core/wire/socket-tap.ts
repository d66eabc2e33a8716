/**
 * Taps a connected PostgreSQL client socket: every byte the client writes and every byte the
 * server sends is fed to a StatementTracker before the driver sees it. The driver's code is
 * untouched, so whatever runs on the connection (pg, knex, an ORM) is measured the same way.
 */
import type { Duplex } from 'node:stream';

/** Where a tap sends the bytes it sees: a StatementTracker, or anything that notes them for one. */
export interface TapSink {
  fromClient(chunk: Uint8Array): void;
  fromServer(chunk: Uint8Array): void;
}

type WriteFn = Duplex['write'];

/**
 * Starts tapping `socket` (which must be past the startup phase). Returns a function that
 * stops tapping and restores the socket as it was.
 *
 * @example
 * const untap = tapSocket(client.connection.stream, tracker);
 * await client.query('select 1');
 * untap();
 */
export function tapSocket(socket: Duplex, tracker: TapSink): () => void {
  const originalWrite = socket.write;
  const ownWrite = Object.prototype.hasOwnProperty.call(socket, 'write');
  const tappedWrite = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    if (typeof chunk === 'string') {
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
      tracker.fromClient(Buffer.from(chunk, encoding));
    } else if (chunk instanceof Uint8Array) {
      tracker.fromClient(chunk);
    }
    return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as WriteFn;
  socket.write = tappedWrite;
  const onData = (chunk: Buffer | string): void => {
    tracker.fromServer(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  // Prepend: the tracker must close a statement before the driver resolves its promise.
  socket.prependListener('data', onData);
  return () => {
    socket.removeListener('data', onData);
    if (socket.write === tappedWrite) {
      if (ownWrite) socket.write = originalWrite;
      else delete (socket as { write?: WriteFn }).write;
    }
  };
}
