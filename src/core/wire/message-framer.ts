/**
 * Streaming framer for the PostgreSQL wire protocol (v3, after startup): cuts a byte stream,
 * however it is chunked, into typed messages `[type:1][length:4][body:length-4]`.
 *
 * It never holds a whole large message: for each type the caller says how many leading body
 * bytes it needs (e.g. 2 for a DataRow's field count, all of a CommandComplete), and the
 * rest is counted and skipped. Memory stays bounded whatever the result size.
 */
// Imported, not the global: Node defines globalThis.Buffer as an accessor, called at every use.
import { Buffer } from 'node:buffer';

/** One framed message. */
export interface FramedMessage {
  /** The type byte as a character, e.g. `D`, `Z`, `Q`. */
  type: string;
  /** Bytes on the wire: type byte + length word + body. */
  wireBytes: number;
  /** Body length (the length word minus its own 4 bytes). */
  bodyBytes: number;
  /** The leading body bytes the caller asked to keep (all of them for `Infinity`). */
  readonly head: Buffer;
  /**
   * Where the kept bytes are without making a view of them: `source[start … start + kept)`.
   * `source` is usually the chunk the message came in (a hot consumer reads a field there
   * instead of paying for `head`, a new Buffer object each time).
   */
  source: Buffer;
  start: number;
  /** How many leading body bytes were kept (`head.length`). */
  kept: number;
}

/** How many leading body bytes to keep for a message type (0 to keep none). */
export type KeepPolicy = (type: string) => number;

const HEADER_BYTES = 5;
const EMPTY = Buffer.alloc(0);

/** The framer's one message object: `head` is made only when a consumer asks for it. */
class Message implements FramedMessage {
  type = '';
  wireBytes = 0;
  bodyBytes = 0;
  source: Buffer = EMPTY;
  start = 0;
  kept = 0;
  private view: Buffer | null = null;

  get head(): Buffer {
    return (this.view ??= this.kept === 0 ? EMPTY : this.source.subarray(this.start, this.start + this.kept));
  }

  set(type: string, bodyBytes: number, source: Buffer, start: number, kept: number): void {
    this.type = type;
    this.bodyBytes = bodyBytes;
    this.wireBytes = bodyBytes + HEADER_BYTES;
    this.source = source;
    this.start = start;
    this.kept = kept;
    this.view = null;
  }
}

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
  /** One message object, refilled for every message: the hot path allocates nothing per message. */
  private readonly message = new Message();

  constructor(
    private readonly keep: KeepPolicy,
    private readonly onMessage: (message: FramedMessage) => void,
  ) {}

  /**
   * Feeds the next chunk of the stream. Chunks may split messages anywhere. The message
   * passed to `onMessage` is reused, and its `head` (and `source`) may be a view of `chunk`: a
   * consumer that keeps either past the callback must copy it.
   */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let offset = 0;
    const end = buf.length;
    while (offset < end) {
      if (this.current === null) {
        let type: string;
        let length: number;
        if (this.headerFill === 0 && end - offset >= HEADER_BYTES) {
          // Fast path: the whole header is in this chunk (almost always).
          type = TYPE_NAMES[buf[offset]!]!;
          length = int32(buf, offset + 1);
          offset += HEADER_BYTES;
        } else {
          const take = Math.min(HEADER_BYTES - this.headerFill, end - offset);
          buf.copy(this.header, this.headerFill, offset, offset + take);
          this.headerFill += take;
          offset += take;
          if (this.headerFill < HEADER_BYTES) return;
          this.headerFill = 0;
          type = TYPE_NAMES[this.header[0]!]!;
          length = this.header.readInt32BE(1);
        }
        if (length < 4) throw new Error(`wire protocol: message '${type}' has invalid length ${length}`);
        const bodyBytes = length - 4;
        const keep = Math.min(this.keep(type), bodyBytes);
        if (end - offset >= bodyBytes) {
          // Fast path: the whole body is in this chunk; the kept prefix is read where it is.
          const start = offset;
          offset += bodyBytes;
          this.message.set(type, bodyBytes, buf, start, keep);
          this.onMessage(this.message);
          continue;
        }
        this.current = { type, bodyBytes, keep, parts: [], kept: 0 };
        this.remaining = bodyBytes;
        continue;
      }
      const take = Math.min(this.remaining, end - offset);
      const msg = this.current;
      if (msg.kept < msg.keep) {
        const keepNow = Math.min(take, msg.keep - msg.kept);
        // Copy: this part must outlive the chunk it came in.
        msg.parts.push(Buffer.from(buf.subarray(offset, offset + keepNow)));
        msg.kept += keepNow;
      }
      offset += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    }
  }

  /**
   * Looks ahead, without consuming anything, for a message in `chunk` (the next bytes of the
   * stream) whose length word announces more than `maxWireBytes` on the wire: returns where in
   * `chunk` that message starts (its header may have begun in an earlier chunk: then 0) and
   * its size, or null. A proxy calls it before forwarding a chunk, to refuse a message before
   * any of it is held or passed on.
   *
   * @example
   * const big = framer.peekOversized(chunk, 64 * 1024 * 1024);
   * if (big !== null) refuse(big.wireBytes);
   */
  peekOversized(chunk: Uint8Array, maxWireBytes: number): { offset: number; wireBytes: number } | null {
    let offset = 0;
    const end = chunk.byteLength;
    if (this.current !== null) {
      // Inside a message already announced (and accepted): skip its rest.
      offset = Math.min(end, this.remaining);
    } else if (this.headerFill > 0) {
      const need = HEADER_BYTES - this.headerFill;
      if (end < need) return null;
      const header = Buffer.alloc(HEADER_BYTES);
      this.header.copy(header, 0, 0, this.headerFill);
      Buffer.from(chunk.buffer, chunk.byteOffset + 0, need).copy(header, this.headerFill);
      const length = header.readInt32BE(1);
      if (length + 1 > maxWireBytes) return { offset: 0, wireBytes: length + 1 };
      offset = need + Math.max(0, length - 4);
    }
    const view = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (offset + HEADER_BYTES <= end) {
      const length = int32(view, offset + 1);
      if (length + 1 > maxWireBytes) return { offset, wireBytes: length + 1 };
      // An invalid length (< 4) is the framer's to report when it reads it.
      offset += 1 + Math.max(4, length);
    }
    return null;
  }

  /** True when no partial message is pending (the stream is at a message boundary). */
  get idle(): boolean {
    return this.current === null && this.headerFill === 0;
  }

  private finish(): void {
    const msg = this.current!;
    this.current = null;
    const head = msg.parts.length === 0 ? EMPTY : msg.parts.length === 1 ? msg.parts[0]! : Buffer.concat(msg.parts);
    this.message.set(msg.type, msg.bodyBytes, head, 0, head.length);
    this.onMessage(this.message);
  }
}

/** Type byte → its one-character name, made once. */
const TYPE_NAMES: string[] = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i));

/*
 * The readers below are what the per-message path uses instead of Buffer's readInt32BE / toString:
 * the same results for in-range offsets (callers check the range), with nothing for the
 * optimizing compiler to inline but a few byte loads. A proxy's first thousands of statements
 * run while V8 compiles this path, so its size is paid for on every connection's hot start.
 */

/**
 * The big-endian int32 at `offset` (which must be in range).
 *
 * @example
 * int32(Buffer.from([0, 0, 1, 0]), 0) // 256
 */
export function int32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!;
}

/**
 * The big-endian int16 at `offset` (which must be in range).
 *
 * @example
 * int16(Buffer.from([0xff, 0xff]), 0) // -1
 */
export function int16(buf: Uint8Array, offset: number): number {
  return (((buf[offset]! << 8) | buf[offset + 1]!) << 16) >> 16;
}

/**
 * `buf[start … end)` decoded as UTF-8 (`toString` without an encoding name to look up).
 *
 * @example
 * utf8(Buffer.from('select 1'), 0, 6) // 'select'
 */
export function utf8(buf: Buffer, start: number, end: number): string {
  return buf.toString(undefined, start, end);
}

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
export function readCString(buf: Buffer, offset: number): [string, number] {
  const end = cStringEnd(buf, offset, buf.length);
  return [buf.toString('utf8', offset, end), end + 1];
}

/**
 * Where the NUL-terminated string at `offset` ends (the NUL's offset), or `limit` when no NUL
 * comes before it.
 *
 * @example
 * cStringEnd(Buffer.from('ab\0c'), 0, 4) // 2
 */
export function cStringEnd(buf: Buffer, offset: number, limit: number): number {
  const end = buf.indexOf(0, offset);
  return end < 0 || end > limit ? limit : end;
}

/** Bytes of field values in a DataRow, from its body length and field count (no need to read the values). */
export function dataRowPayloadBytes(bodyBytes: number, fieldCount: number): number {
  // body = int16 count + per field (int32 length + value bytes); NULL fields carry no value bytes.
  return bodyBytes - 2 - 4 * fieldCount;
}
