/**
 * Streaming framer for the PostgreSQL wire protocol (v3, after startup): cuts a byte stream,
 * however it is chunked, into typed messages `[type:1][length:4][body:length-4]`.
 *
 * It never holds a whole large message: for each type the caller says how many leading body
 * bytes it needs (e.g. 2 for a DataRow's field count, all of a CommandComplete), and the
 * rest is counted and skipped. Memory stays bounded whatever the result size.
 */

/** One framed message. */
export interface FramedMessage {
  /** The type byte as a character, e.g. `D`, `Z`, `Q`. */
  type: string;
  /** Bytes on the wire: type byte + length word + body. */
  wireBytes: number;
  /** Body length (the length word minus its own 4 bytes). */
  bodyBytes: number;
  /** The leading body bytes the caller asked to keep (all of them for `Infinity`). */
  head: Buffer;
}

/** How many leading body bytes to keep for a message type (0 to keep none). */
export type KeepPolicy = (type: string) => number;

const HEADER_BYTES = 5;
const EMPTY = Buffer.alloc(0);

/**
 * @example
 * const framer = new MessageFramer((t) => (t === 'D' ? 2 : Infinity), (m) => console.log(m.type));
 * socket.on('data', (chunk) => framer.push(chunk));
 */
export class MessageFramer {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private current: { type: string; bodyBytes: number; keep: number; parts: Buffer[]; kept: number } | null = null;
  private remaining = 0;

  constructor(
    private readonly keep: KeepPolicy,
    private readonly onMessage: (message: FramedMessage) => void,
  ) {}

  /** Feeds the next chunk of the stream. Chunks may split messages anywhere. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.current === null) {
        const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - offset);
        this.header.set(chunk.subarray(offset, offset + take), this.headerFill);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER_BYTES) return;
        this.headerFill = 0;
        const type = String.fromCharCode(this.header[0]!);
        const length = this.header.readInt32BE(1);
        if (length < 4) throw new Error(`wire protocol: message '${type}' has invalid length ${length}`);
        const bodyBytes = length - 4;
        this.current = { type, bodyBytes, keep: Math.min(this.keep(type), bodyBytes), parts: [], kept: 0 };
        this.remaining = bodyBytes;
        if (bodyBytes === 0) this.finish();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const msg = this.current;
      if (msg.kept < msg.keep) {
        const keepNow = Math.min(take, msg.keep - msg.kept);
        // Copy: the caller's chunk buffer may be reused after we return.
        msg.parts.push(Buffer.from(chunk.subarray(offset, offset + keepNow)));
        msg.kept += keepNow;
      }
      offset += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    }
  }

  /** True when no partial message is pending (the stream is at a message boundary). */
  get idle(): boolean {
    return this.current === null && this.headerFill === 0;
  }

  private finish(): void {
    const msg = this.current!;
    this.current = null;
    const head = msg.parts.length === 0 ? EMPTY : msg.parts.length === 1 ? msg.parts[0]! : Buffer.concat(msg.parts);
    this.onMessage({ type: msg.type, wireBytes: msg.bodyBytes + HEADER_BYTES, bodyBytes: msg.bodyBytes, head });
  }
}

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
export function readCString(buf: Buffer, offset: number): [string, number] {
  let end = buf.indexOf(0, offset);
  if (end < 0) end = buf.length;
  return [buf.toString('utf8', offset, end), end + 1];
}

/** Bytes of field values in a DataRow, from its body length and field count (no need to read the values). */
export function dataRowPayloadBytes(bodyBytes: number, fieldCount: number): number {
  // body = int16 count + per field (int32 length + value bytes); NULL fields carry no value bytes.
  return bodyBytes - 2 - 4 * fieldCount;
}
