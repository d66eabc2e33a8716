/**
 * CSV for `COPY … FROM … WITH (FORMAT csv)`: NULL is an unquoted empty field, every text
 * value is quoted (so an empty string is `""` and never NULL, and a lone `\.` can never end
 * the data), jsonb is JSON text, booleans are `t`/`f`.
 */
import type { TablePlan } from './generator.js';
import type { Cell, Row } from './schema.js';

function quote(text: string): string {
  return text.indexOf('"') === -1 ? `"${text}"` : `"${text.replace(/"/g, '""')}"`;
}

/** One CSV field. */
export function csvField(value: Cell): string {
  if (value === null) return '';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`cannot write ${value} to CSV`);
      return String(value);
    case 'boolean':
      return value ? 't' : 'f';
    default:
      return quote(JSON.stringify(value));
  }
}

/** One CSV line (with its newline) of `row`'s `columns`. */
export function csvLine(row: Row, columns: readonly string[]): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) {
    if (i > 0) line += ',';
    const value = row[columns[i]];
    if (value === undefined) throw new Error(`row has no column ${columns[i]}`);
    line += csvField(value);
  }
  return line + '\n';
}

/** A chunk of UTF-8 CSV and how many rows it holds. */
export interface CsvBatch {
  readonly bytes: Buffer;
  readonly rows: number;
}

/**
 * A table's rows as UTF-8 CSV batches of at most `maxRows` rows or about `maxBytes` bytes,
 * whichever comes first; rows are generated as batches are consumed. Each line is encoded
 * into the batch buffer as soon as it is made, so no row outlives its batch's line (this
 * keeps the garbage collector out of the way at the `large` scale). Every batch is a fresh
 * buffer: consumers may hold on to it.
 */
export function* csvBatches(plan: TablePlan, maxRows: number, maxBytes: number): Generator<CsvBatch> {
  let capacity = maxBytes + (1 << 20);
  let buffer = Buffer.allocUnsafe(capacity);
  let length = 0;
  let rows = 0;
  for (const row of plan.rows()) {
    const line = csvLine(row, plan.columns);
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    if (length + line.length * 3 > capacity) {
      if (rows > 0) {
        yield { bytes: buffer.subarray(0, length), rows };
        rows = 0;
      }
      capacity = Math.max(maxBytes + (1 << 20), line.length * 3);
      buffer = Buffer.allocUnsafe(capacity);
      length = 0;
    }
    length += buffer.write(line, length, 'utf8');
    rows++;
    if (rows >= maxRows || length >= maxBytes) {
      yield { bytes: buffer.subarray(0, length), rows };
      buffer = Buffer.allocUnsafe(capacity);
      length = 0;
      rows = 0;
    }
  }
  if (rows > 0) yield { bytes: buffer.subarray(0, length), rows };
}
