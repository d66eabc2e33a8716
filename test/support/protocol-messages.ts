/**
 * The rest of the PostgreSQL wire protocol, built by hand on `msg` from wire-messages.ts: every
 * frontend and backend message the statement tracker reads, with the fields it parses (Bind
 * formats, RowDescription columns, ErrorResponse severities, COPY, FunctionCall), so unit tests
 * can drive it without a server and assert exact figures.
 */
import { int16, int32, msg } from './wire-messages.js';

// Frontend.

/** Query: one string, possibly several statements. */
export const query = (sql: string) => msg('Q', sql);
/** Parse with no parameter types declared. */
export const parse = (name: string, sql: string) => msg('P', name, sql, int16(0));
/**
 * Bind `portal` to `statement`. `formats` is sent as given: [] (all text), [f] (f for all) or
 * one per parameter; a null parameter is sent as NULL (length -1).
 */
export function bind(portal: string, statement: string, params: (string | Buffer | null)[], formats: number[] = []): Buffer {
  const values = params.map((p) => {
    if (p === null) return Buffer.from(int32(-1));
    const bytes = typeof p === 'string' ? Buffer.from(p) : p;
    return Buffer.concat([Buffer.from(int32(bytes.length)), bytes]);
  });
  return msg(
    'B',
    portal,
    statement,
    int16(formats.length),
    ...formats.map((f) => int16(f)),
    int16(params.length),
    ...values,
    // No result-column formats: all text.
    int16(0),
  );
}
/** Describe a statement (`S`) or a portal (`P`). */
export const describeMessage = (kind: 'S' | 'P', name: string) => msg('D', Buffer.from(kind), name);
/** Execute `portal`, returning at most `maxRows` rows (0: all). */
export const execute = (portal = '', maxRows = 0) => msg('E', portal, int32(maxRows));
/** Close a statement (`S`) or a portal (`P`). */
export const close = (kind: 'S' | 'P', name: string) => msg('C', Buffer.from(kind), name);
export const flush = msg('H');
export const terminate = msg('X');
/** FunctionCall of `oid` with one binary int4 argument, binary result. */
export const functionCall = (oid: number, arg: number) => msg('F', int32(oid), int16(1), int16(1), int16(1), int32(4), int32(arg), int16(1));
/** CopyData (either direction). */
export const copyData = (data: string) => msg('d', Buffer.from(data));
/** CopyDone (either direction). */
export const copyDone = msg('c');
/** CopyFail (frontend). */
export const copyFail = (reason: string) => msg('f', reason);

// Backend.

export interface Column {
  name: string;
  typeOid: number;
  format: number;
}
/** RowDescription: table OID and column number 0, type size -1, type modifier -1. */
export function rowDescription(columns: Column[]): Buffer {
  return msg(
    'T',
    int16(columns.length),
    ...columns.flatMap((c) => [
      Buffer.from(c.name + '\0'),
      Buffer.from([...int32(0), ...int16(0), ...int32(c.typeOid), ...int16(-1), ...int32(-1), ...int16(c.format)]),
    ]),
  );
}
/** DataRow of text values; null is NULL (length -1, no bytes). */
export function row(...values: (string | null)[]): Buffer {
  return msg(
    'D',
    int16(values.length),
    ...values.map((v) => (v === null ? Buffer.from(int32(-1)) : Buffer.concat([Buffer.from(int32(Buffer.byteLength(v))), Buffer.from(v)]))),
  );
}
/** ErrorResponse (or NoticeResponse with type `N`) with the given fields, in order. */
export function errorFields(fields: [string, string][], type = 'E'): Buffer {
  return msg(type, ...fields.map(([code, value]) => code + value), Buffer.from([0]));
}
export const emptyQuery = msg('I');
export const portalSuspended = msg('s');
export const closeComplete = msg('3');
export const parameterDescription = (oids: number[]) => msg('t', int16(oids.length), ...oids.map((o) => int32(o)));
/** CopyInResponse / CopyOutResponse, text format, no columns. */
export const copyInResponse = msg('G', Buffer.from([0]), int16(0));
export const copyOutResponse = msg('H', Buffer.from([0]), int16(0));
export const notice = (text: string) => errorFields([['S', 'NOTICE'], ['V', 'NOTICE'], ['C', '00000'], ['M', text]], 'N');
export const parameterStatus = (name: string, value: string) => msg('S', name, value);
export const notification = (pid: number, channel: string, payload: string) => msg('A', int32(pid), channel, payload);
/** FunctionCallResponse: the result's bytes, or NULL (length -1). */
export const functionResult = (value: Buffer | null) =>
  value === null ? msg('V', int32(-1)) : msg('V', int32(value.length), value);
