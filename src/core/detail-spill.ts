/**
 * Details of a long run, kept on disk instead of in memory: NDJSON files in a temporary
 * directory, appended to as the run goes and read back once, when the report is written
 * (docs/commands.md, `--details`). `TurnDetailSpill` holds measured turns, one file per strategy,
 * read back in order; `RecordSpill` holds a recording's statements, read back one by one in
 * whatever order the report needs them.
 */
import { closeSync, createReadStream, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TurnDetail } from '../report/model.js';

/** Bytes gathered per file before they are written out. */
const FLUSH_AT = 1 << 20;
/** Bytes read at once by a positioned read: the next records asked for are usually in them. */
const READ_BLOCK = 1 << 20;

/** NDJSON files in a new temporary directory, appended to with a buffer, removed by `dispose`. */
class SpillFiles {
  private readonly dir: string;
  private readonly files: string[];
  private readonly fds: number[];
  private readonly pending: string[];
  /** Bytes of each file, flushed or pending: where the next line starts. */
  private readonly sizes: number[];
  private block = Buffer.alloc(0);
  private blockFile = -1;
  private blockStart = 0;
  private disposed = false;

  constructor(options: { count: number; dir?: string; prefix: string }) {
    const dir = mkdtempSync(path.join(options.dir ?? os.tmpdir(), options.prefix));
    this.dir = dir;
    this.files = Array.from({ length: options.count }, (_, i) => path.join(dir, `${i}.ndjson`));
    this.fds = [];
    try {
      for (const file of this.files) this.fds.push(openSync(file, 'wx+', 0o600));
    } catch (error) {
      this.dispose();
      throw error;
    }
    this.pending = this.files.map(() => '');
    this.sizes = this.files.map(() => 0);
  }

  /** Appends `line` (with its newline) to file `file`; returns the byte offset it starts at. */
  append(file: number, line: string, bytes = Buffer.byteLength(line)): number {
    const at = this.sizes[file]!;
    this.sizes[file] = at + bytes;
    this.pending[file] += line;
    if (this.pending[file]!.length >= FLUSH_AT) this.flush(file);
    return at;
  }

  flush(file: number): void {
    const text = this.pending[file]!;
    if (text === '') return;
    this.pending[file] = '';
    writeSync(this.fds[file]!, text);
  }

  async *lines(file: number): AsyncGenerator<string> {
    this.flush(file);
    const lines = createInterface({ input: createReadStream(this.files[file]!, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) if (line !== '') yield line;
  }

  /** The `bytes` bytes at `offset` of file `file`, as text (read a block at a time: neighbours come next). */
  readAt(file: number, offset: number, bytes: number): string {
    const inBlock = file === this.blockFile && offset >= this.blockStart && offset + bytes <= this.blockStart + this.block.length;
    if (!inBlock) {
      this.flush(file);
      const size = Math.max(READ_BLOCK, bytes);
      if (this.block.length < size) this.block = Buffer.allocUnsafe(size);
      const read = readSync(this.fds[file]!, this.block, 0, size, offset);
      this.block = this.block.subarray(0, read);
      this.blockFile = file;
      this.blockStart = offset;
    }
    const start = offset - this.blockStart;
    return this.block.toString('utf8', start, start + bytes);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const fd of this.fds) {
      try {
        closeSync(fd);
      } catch {
        // Already closed: nothing to release.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A spill of turn details: pass `add` as the runner's `onTurnDetail`, read each strategy back
 * with `read`, and `dispose` it (the files are removed) when done.
 *
 * @example
 * const spill = TurnDetailSpill.create(strategies.length);
 * try {
 *   const report = await compare({ strategies, turns, onTurnDetail: (s, d) => spill.add(s, d) });
 *   await writeFile('report.json', renderJsonChunks(report, (s) => spill.read(s)));
 * } finally {
 *   spill.dispose();
 * }
 */
export class TurnDetailSpill {
  private constructor(
    private readonly files: SpillFiles,
    private readonly keepStatements: boolean,
  ) {}

  /**
   * A spill for `strategies` strategies in a new directory under the system's temporary one
   * (`dir`, if given). `statements: false` drops each turn's statements as it is added (`--details summary`).
   */
  static create(strategies: number, options: { statements?: boolean; dir?: string } = {}): TurnDetailSpill {
    const files = new SpillFiles({ count: strategies, dir: options.dir, prefix: 'ctxbench-details-' });
    return new TurnDetailSpill(files, options.statements !== false);
  }

  /** Appends a turn's detail to strategy `strategy`'s file (synchronously: the runner calls it between builds). */
  add(strategy: number, detail: TurnDetail): void {
    const kept = this.keepStatements ? detail : { ...detail, statements: undefined };
    this.files.append(strategy, `${JSON.stringify(kept)}\n`);
  }

  /** Strategy `strategy`'s details, in the order they were added (readable more than once). */
  async *read(strategy: number): AsyncGenerator<TurnDetail> {
    for await (const line of this.files.lines(strategy)) yield JSON.parse(line) as TurnDetail;
  }

  /** Closes and removes the files. */
  dispose(): void {
    this.files.dispose();
  }
}

/**
 * Records (anything JSON can hold) kept on disk as they come, each read back by its index, in any
 * order: a recording's statements, which the report needs grouped and sorted differently from
 * the order they completed in. Memory per record is its offset and length (12 bytes).
 *
 * @example
 * const spill = RecordSpill.create<{ sql: string }>();
 * try {
 *   const i = spill.add({ sql: 'select 1' });
 *   spill.get(i).sql; // 'select 1'
 * } finally {
 *   spill.dispose();
 * }
 */
export class RecordSpill<T> {
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  private count = 0;

  private constructor(private readonly files: SpillFiles) {}

  /** An empty spill in a new directory under the system's temporary one (`dir`, if given). */
  static create<T>(options: { dir?: string } = {}): RecordSpill<T> {
    return new RecordSpill<T>(new SpillFiles({ count: 1, dir: options.dir, prefix: 'ctxbench-records-' }));
  }

  /** Records added so far. */
  get size(): number {
    return this.count;
  }

  /** Appends a record; returns its index (0, 1, 2, … in the order added). */
  add(record: T): number {
    const line = `${JSON.stringify(record)}\n`;
    if (this.count === this.offsets.length) {
      const offsets = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const lengths = new Uint32Array(this.count * 2);
      lengths.set(this.lengths);
      this.lengths = lengths;
    }
    const bytes = Buffer.byteLength(line);
    this.offsets[this.count] = this.files.append(0, line, bytes);
    this.lengths[this.count] = bytes - 1;
    return this.count++;
  }

  /** The record added as index `index` (a fresh copy each time). */
  get(index: number): T {
    if (!(index >= 0 && index < this.count)) throw new RangeError(`RecordSpill: no record ${index} (${this.count} added)`);
    return JSON.parse(this.files.readAt(0, this.offsets[index]!, this.lengths[index]!)) as T;
  }

  /** Closes and removes the file. */
  dispose(): void {
    this.files.dispose();
  }
}
