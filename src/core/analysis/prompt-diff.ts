/**
 * A readable line diff of two prompts (docs/design.md §5: "context identical … else a readable
 * diff"). Unified-style hunks with context; identical stretches between hunks are left out.
 * Whitespace that would otherwise be invisible is drawn: trailing spaces as `·`, tabs as
 * `→`, carriage returns as `␍`, and a missing final newline as git's
 * `\ No newline at end of file`.
 */

/** Options for {@link diffPrompts}. */
export interface DiffOptions {
  /** Unchanged lines shown around each change; default 3. */
  context?: number;
  /** When given, the diff starts with `--- baseline` / `+++ other` header lines. */
  labels?: { baseline: string; other: string };
  /** Diff lines kept before the rest is summarised as `… n more lines`; default 400. */
  maxLines?: number;
}

interface Line {
  /** The line without its newline. */
  text: string;
  /** False only for a last line that has no newline. */
  newline: boolean;
}

type Op = { type: ' ' | '-' | '+'; line: Line; a: number; b: number };

function splitLines(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const last = parts.pop() as string;
  const lines: Line[] = parts.map((p) => ({ text: p, newline: true }));
  if (last !== '') lines.push({ text: last, newline: false });
  return lines;
}

function sameLine(x: Line, y: Line): boolean {
  return x.text === y.text && x.newline === y.newline;
}

/**
 * Myers' O((N+M)·D) shortest edit script over lines, as a list of keep/delete/insert
 * operations in order. Common prefix and suffix are trimmed first: prompts that differ in
 * one section share almost everything.
 */
function editScript(a: Line[], b: Line[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && sameLine(a[start], b[start])) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && sameLine(a[endA - 1], b[endB - 1])) {
    endA -= 1;
    endB -= 1;
  }

  const ops: Op[] = [];
  for (let i = 0; i < start; i++) ops.push({ type: ' ', line: a[i], a: i, b: i });

  const n = endA - start;
  const m = endB - start;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = n === 0 && m === 0;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])) x = v[offset + k + 1];
      else x = v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && sameLine(a[start + x], b[start + y])) {
        x += 1;
        y += 1;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }

  // Walk the trace backwards to recover the path.
  const middle: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d];
    const k = x - y;
    let prevK: number;
    if (k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1])) prevK = k + 1;
    else prevK = k - 1;
    const prevX = d === 0 ? 0 : vd[offset + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x -= 1;
      y -= 1;
      middle.push({ type: ' ', line: a[start + x], a: start + x, b: start + y });
    }
    if (d === 0) break;
    if (x === prevX) {
      y -= 1;
      middle.push({ type: '+', line: b[start + y], a: start + x, b: start + y });
    } else {
      x -= 1;
      middle.push({ type: '-', line: a[start + x], a: start + x, b: start + y });
    }
    x = prevX;
    y = prevY;
  }
  middle.reverse();
  ops.push(...middle);

  for (let i = 0; i < a.length - endA; i++) {
    ops.push({ type: ' ', line: a[endA + i], a: endA + i, b: endB + i });
  }
  return ops;
}

/** Draws trailing whitespace and carriage returns, so a difference in them is visible. */
function visible(text: string): string {
  const trimmed = text.replace(/[ \t\r]+$/, '');
  const tail = text
    .slice(trimmed.length)
    .replace(/ /g, '·')
    .replace(/\t/g, '→')
    .replace(/\r/g, '␍');
  return trimmed.replace(/\r/g, '␍') + tail;
}

function renderOp(op: Op): string[] {
  const body = visible(op.line.text);
  // An empty unchanged line is printed empty rather than as a lone space: no trailing blanks.
  const out = [op.type === ' ' && body === '' ? '' : `${op.type}${body}`];
  if (!op.line.newline) out.push('\\ No newline at end of file');
  return out;
}

function range(start: number, count: number): string {
  // Unified-diff convention: an empty range names the line before it.
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

/**
 * A unified-style line diff of `other` against `baseline` (`-` baseline, `+` other), with
 * `context` unchanged lines around each change, or `''` when the texts are equal.
 *
 * @example
 * diffPrompts('a\nb\nc\n', 'a\nB\nc\n');
 * // => '@@ -1,3 +1,3 @@\n a\n-b\n+B\n c'
 */
export function diffPrompts(baseline: string, other: string, options: DiffOptions = {}): string {
  if (baseline === other) return '';
  const context = Math.max(0, options.context ?? 3);
  const maxLines = Math.max(1, options.maxLines ?? 400);
  const ops = editScript(splitLines(baseline), splitLines(other));

  const out: string[] = [];
  if (options.labels !== undefined) {
    out.push(`--- ${options.labels.baseline}`, `+++ ${options.labels.other}`);
  }
  const onlyTrailing =
    splitLines(baseline).map((l) => l.text.trimEnd()).join('\n') ===
    splitLines(other).map((l) => l.text.trimEnd()).join('\n');
  if (onlyTrailing) {
    out.push('(the prompts differ only in trailing whitespace or the final newline)');
  }

  // Group changes into hunks: changes closer than 2 × context share one hunk.
  let i = 0;
  while (i < ops.length) {
    while (i < ops.length && ops[i].type === ' ') i += 1;
    if (i >= ops.length) break;
    const hunkStart = Math.max(0, i - context);
    let end = i;
    let lastChange = i;
    while (end < ops.length) {
      if (ops[end].type !== ' ') lastChange = end;
      else if (end - lastChange > 2 * context) break;
      end += 1;
    }
    const hunkEnd = Math.min(ops.length, lastChange + context + 1);
    const hunk = ops.slice(hunkStart, hunkEnd);
    const first = hunk[0];
    const countA = hunk.filter((o) => o.type !== '+').length;
    const countB = hunk.filter((o) => o.type !== '-').length;
    const startA = hunk.find((o) => o.type !== '+')?.a ?? first.a;
    const startB = hunk.find((o) => o.type !== '-')?.b ?? first.b;
    out.push(`@@ -${range(countA === 0 ? first.a : startA, countA)} +${range(countB === 0 ? first.b : startB, countB)} @@`);
    for (const op of hunk) out.push(...renderOp(op));
    i = hunkEnd;
  }

  if (out.length > maxLines) {
    const rest = out.length - maxLines;
    out.length = maxLines;
    out.push(`… ${rest} more line${rest === 1 ? '' : 's'}`);
  }
  return out.join('\n');
}
