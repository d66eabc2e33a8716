/**
 * Turn details of a long run, kept on disk instead of in memory: one NDJSON file per strategy
 * in a temporary directory, appended to as turns are measured and read back once, when the
 * report is written (docs/commands.md, `--details`).
 */
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TurnDetail } from '../report/model.js';

/** Bytes gathered per file before they are written out. */
const FLUSH_AT = 1 << 20;

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
  private readonly files: string[];
  private readonly fds: number[];
  private readonly pending: string[];
  private disposed = false;

  private constructor(
    private readonly dir: string,
    strategies: number,
    private readonly keepStatements: boolean,
  ) {
    this.files = Array.from({ length: strategies }, (_, i) => path.join(dir, `strategy-${i}.ndjson`));
    this.fds = this.files.map((file) => openSync(file, 'wx', 0o600));
    this.pending = this.files.map(() => '');
  }

  /**
   * A spill for `strategies` strategies in a new directory under the system's temporary one
   * (`dir`, if given). `statements: false` drops each turn's statements as it is added (`--details summary`).
   */
  static create(strategies: number, options: { statements?: boolean; dir?: string } = {}): TurnDetailSpill {
    const dir = mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'ctxbench-details-'));
    try {
      return new TurnDetailSpill(dir, strategies, options.statements !== false);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Appends a turn's detail to strategy `strategy`'s file (synchronously: the runner calls it between builds). */
  add(strategy: number, detail: TurnDetail): void {
    const kept = this.keepStatements ? detail : { ...detail, statements: undefined };
    this.pending[strategy] += `${JSON.stringify(kept)}\n`;
    if (this.pending[strategy]!.length >= FLUSH_AT) this.flush(strategy);
  }

  private flush(strategy: number): void {
    const text = this.pending[strategy]!;
    if (text === '') return;
    this.pending[strategy] = '';
    writeSync(this.fds[strategy]!, text);
  }

  /** Strategy `strategy`'s details, in the order they were added. */
  async *read(strategy: number): AsyncGenerator<TurnDetail> {
    this.flush(strategy);
    const lines = createInterface({ input: createReadStream(this.files[strategy]!, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) if (line !== '') yield JSON.parse(line) as TurnDetail;
  }

  /** Closes and removes the files. */
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
