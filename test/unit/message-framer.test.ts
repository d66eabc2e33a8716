/** The wire framer: the same messages and byte counts however the stream is chunked. */
import { describe, expect, it } from 'vitest';
import { cStringEnd, dataRowPayloadBytes, int16, int32, MessageFramer, readCString, utf8, type KeepPolicy } from '../../src/core/wire/message-framer.js';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const stream = Buffer.concat([
  message('T', Buffer.from('row description body')),
  message('D', Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(4, 0), Buffer.from('abcdefghij')])),
  message('C', Buffer.from('SELECT 1\0')),
  message('I', Buffer.alloc(0)),
  message('Z', Buffer.from('I')),
]);

interface Seen {
  type: string;
  wireBytes: number;
  bodyBytes: number;
  head: string;
}

function frame(chunks: Buffer[], keep: KeepPolicy = (t) => (t === 'D' ? 2 : t === 'T' ? 0 : Infinity)): { seen: Seen[]; framer: MessageFramer } {
  const seen: Seen[] = [];
  const framer = new MessageFramer(keep, (m) => seen.push({ type: m.type, wireBytes: m.wireBytes, bodyBytes: m.bodyBytes, head: m.head.toString('hex') }));
  for (const c of chunks) framer.push(c);
  return { seen, framer };
}

const expected: Seen[] = [
  { type: 'T', wireBytes: 25, bodyBytes: 20, head: '' },
  { type: 'D', wireBytes: 21, bodyBytes: 16, head: '0002' },
  { type: 'C', wireBytes: 14, bodyBytes: 9, head: Buffer.from('SELECT 1\0').toString('hex') },
  { type: 'I', wireBytes: 5, bodyBytes: 0, head: '' },
  { type: 'Z', wireBytes: 6, bodyBytes: 1, head: '49' },
];

describe('MessageFramer', () => {
  it('frames one whole chunk', () => {
    const { seen, framer } = frame([stream]);
    expect(seen).toEqual(expected);
    expect(framer.idle).toBe(true);
  });

  it('frames every split point of the stream into two chunks identically', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const { seen, framer } = frame([stream.subarray(0, cut), stream.subarray(cut)]);
      expect(seen, `cut at ${cut}`).toEqual(expected);
      expect(framer.idle).toBe(true);
    }
  });

  it('frames the stream one byte at a time, idle only at message boundaries', () => {
    const seen: Seen[] = [];
    const framer = new MessageFramer(
      (t) => (t === 'D' ? 2 : t === 'T' ? 0 : Infinity),
      (m) => seen.push({ type: m.type, wireBytes: m.wireBytes, bodyBytes: m.bodyBytes, head: m.head.toString('hex') }),
    );
    const boundaries = new Set([0]);
    let at = 0;
    for (const m of expected) boundaries.add((at += m.wireBytes));
    for (let i = 0; i < stream.length; i++) {
      framer.push(stream.subarray(i, i + 1));
      expect(framer.idle, `after byte ${i}`).toBe(boundaries.has(i + 1));
    }
    expect(seen).toEqual(expected);
  });

  it('keeps a head that outlives its chunks when the body was split', () => {
    const heads: Buffer[] = [];
    const framer = new MessageFramer(() => Infinity, (m) => heads.push(m.head));
    const msg = message('C', Buffer.from('INSERT 0 1\0'));
    const a = Buffer.from(msg.subarray(0, 8));
    const b = Buffer.from(msg.subarray(8, 12));
    const c = Buffer.from(msg.subarray(12));
    framer.push(a);
    framer.push(b);
    framer.push(c);
    a.fill(0);
    b.fill(0);
    c.fill(0);
    expect(heads.map((h) => h.toString())).toEqual(['INSERT 0 1\0']);
  });

  it('accepts a Uint8Array view at an offset', () => {
    const backing = new Uint8Array(stream.length + 3);
    backing.set(stream, 3);
    const { seen } = frame([new Uint8Array(backing.buffer, 3, stream.length) as unknown as Buffer]);
    expect(seen).toEqual(expected);
  });

  it('says where the kept bytes are in place: source[start … start + kept) is the head, without making one', () => {
    const placed: { type: string; bytes: string; start: number; inChunk: boolean; head: string }[] = [];
    const chunk = Buffer.concat([Buffer.from('xyz'), stream]).subarray(3);
    const framer = new MessageFramer(
      (t) => (t === 'D' ? 2 : t === 'T' ? 0 : Infinity),
      (m) => {
        const bytes = m.source.subarray(m.start, m.start + m.kept).toString('hex');
        placed.push({ type: m.type, bytes, start: m.start, inChunk: m.source === chunk, head: m.head.toString('hex') });
      },
    );
    framer.push(chunk);
    // Whole messages are read in the chunk itself, at their body's offset in it.
    expect(placed).toEqual(
      expected.map((m, i) => ({
        type: m.type,
        bytes: m.head,
        start: expected.slice(0, i).reduce((n, e) => n + e.wireBytes, 0) + 5,
        inChunk: true,
        head: m.head,
      })),
    );
    // A body split across chunks is assembled: then the source is its kept bytes alone.
    const split: { source: string; start: number; kept: number }[] = [];
    const joined = new MessageFramer(() => Infinity, (m) => split.push({ source: m.source.toString(), start: m.start, kept: m.kept }));
    const c = message('C', Buffer.from('SELECT 1\0'));
    joined.push(c.subarray(0, 7));
    joined.push(c.subarray(7));
    expect(split).toEqual([{ source: 'SELECT 1\0', start: 0, kept: 9 }]);
  });

  it('rejects a length below 4, naming the type', () => {
    const bad = Buffer.from([0x44, 0, 0, 0, 3]);
    expect(() => frame([bad])).toThrow("wire protocol: message 'D' has invalid length 3");
    expect(() => frame([bad.subarray(0, 2), bad.subarray(2)])).toThrow("wire protocol: message 'D' has invalid length 3");
  });

  it('is not idle in the middle of a header or a body', () => {
    expect(frame([stream.subarray(0, 3)]).framer.idle).toBe(false);
    expect(frame([stream.subarray(0, 10)]).framer.idle).toBe(false);
    expect(frame([stream.subarray(0, 25)]).framer.idle).toBe(true);
  });
});

describe('wire helpers', () => {
  it('readCString reads to the NUL and returns the offset after it, or to the end', () => {
    const buf = Buffer.from('ab\0cde\0f');
    expect(readCString(buf, 0)).toEqual(['ab', 3]);
    expect(readCString(buf, 3)).toEqual(['cde', 7]);
    expect(readCString(buf, 7)).toEqual(['f', 9]);
    // An empty string: the NUL is the first byte.
    expect(readCString(Buffer.from('\0ab'), 0)).toEqual(['', 1]);
  });

  it('cStringEnd finds the NUL, or stops at the limit when there is none before it', () => {
    const buf = Buffer.from('ab\0cd\0');
    expect(cStringEnd(buf, 0, buf.length)).toBe(2);
    expect(cStringEnd(buf, 3, buf.length)).toBe(5);
    // The NUL is past the limit (in the next message): the limit.
    expect(cStringEnd(buf, 3, 4)).toBe(4);
    expect(cStringEnd(Buffer.from('abc'), 0, 3)).toBe(3);
  });

  it('int16, int32 and utf8 read what readInt16BE, readInt32BE and toString read', () => {
    const buf = Buffer.from([0x80, 0x00, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x01]);
    for (let i = 0; i + 2 <= buf.length; i++) expect(int16(buf, i), `int16 at ${i}`).toBe(buf.readInt16BE(i));
    for (let i = 0; i + 4 <= buf.length; i++) expect(int32(buf, i), `int32 at ${i}`).toBe(buf.readInt32BE(i));
    const text = Buffer.from('xété\0');
    expect(utf8(text, 1, text.length - 1)).toBe('été');
  });

  it('dataRowPayloadBytes subtracts the count word and one length word per field', () => {
    expect(dataRowPayloadBytes(16, 2)).toBe(6);
    expect(dataRowPayloadBytes(2, 0)).toBe(0);
  });
});
