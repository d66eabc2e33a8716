import { describe, expect, it } from 'vitest';
import { diffPrompts } from '../../src/core/analysis/prompt-diff.js';

const lines = (n: number, prefix = 'line'): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);

describe('diffPrompts', () => {
  it('returns an empty string for equal texts', () => {
    expect(diffPrompts('', '')).toBe('');
    expect(diffPrompts('SYSTEM\nhello\n', 'SYSTEM\nhello\n')).toBe('');
  });

  it('shows one changed line as a hunk with exactly the -/+ lines and 3 lines of context', () => {
    const a = lines(10);
    const b = [...a];
    b[4] = 'LINE 5';
    const diff = diffPrompts(`${a.join('\n')}\n`, `${b.join('\n')}\n`);
    expect(diff).toBe(
      ['@@ -2,7 +2,7 @@', ' line 2', ' line 3', ' line 4', '-line 5', '+LINE 5', ' line 6', ' line 7', ' line 8'].join('\n'),
    );
    expect(diff.split('\n').filter((l) => l.startsWith('-') || l.startsWith('+'))).toEqual(['-line 5', '+LINE 5']);
  });

  it('adds --- / +++ headers when labels are given', () => {
    const diff = diffPrompts('a\n', 'b\n', { labels: { baseline: 'naive', other: 'batched' } });
    expect(diff).toBe(['--- naive', '+++ batched', '@@ -1 +1 @@', '-a', '+b'].join('\n'));
  });

  it('elides long identical stretches between separate hunks', () => {
    const a = lines(40);
    const b = [...a];
    b[2] = 'changed 3';
    b[35] = 'changed 36';
    const diff = diffPrompts(a.join('\n'), b.join('\n'));
    const hunks = diff.split('\n').filter((l) => l.startsWith('@@'));
    expect(hunks).toEqual(['@@ -1,6 +1,6 @@', '@@ -33,7 +33,7 @@']);
    expect(diff).not.toContain('line 20');
  });

  it('merges changes close together into one hunk', () => {
    const a = lines(12);
    const b = [...a];
    b[3] = 'x';
    b[7] = 'y';
    const diff = diffPrompts(a.join('\n'), b.join('\n'));
    expect(diff.split('\n').filter((l) => l.startsWith('@@'))).toEqual(['@@ -1,11 +1,11 @@']);
  });

  it('handles insertions and deletions', () => {
    expect(diffPrompts('a\nc\n', 'a\nb\nc\n')).toBe(['@@ -1,2 +1,3 @@', ' a', '+b', ' c'].join('\n'));
    expect(diffPrompts('', 'x\n')).toBe(['@@ -0,0 +1 @@', '+x'].join('\n'));
    expect(diffPrompts('x\ny\n', '')).toBe(['@@ -1,2 +0,0 @@', '-x', '-y'].join('\n'));
  });

  it('makes a difference only in the final newline visible', () => {
    const diff = diffPrompts('a\nb\n', 'a\nb');
    expect(diff).not.toBe('');
    expect(diff).toContain('differ only in trailing whitespace');
    expect(diff).toContain('-b\n+b\n\\ No newline at end of file');
  });

  it('makes a difference only in trailing spaces visible', () => {
    const diff = diffPrompts('price: 19.90 \nend\n', 'price: 19.90\nend\n');
    expect(diff).toContain('-price: 19.90·\n+price: 19.90\n');
    expect(diff).toContain('differ only in trailing whitespace');
  });

  it('prints no trailing blanks, even for empty context lines', () => {
    const diff = diffPrompts('a\n\nb\n\nc\n', 'a\n\nB\n\nc\n');
    expect(diff.split('\n').some((l) => /[ \t]$/.test(l))).toBe(false);
    expect(diff).toContain('\n\n-b\n+B\n\n');
  });

  it('caps very long diffs', () => {
    const diff = diffPrompts(lines(1000).join('\n'), lines(1000, 'other').join('\n'), { maxLines: 50 });
    const out = diff.split('\n');
    expect(out).toHaveLength(51);
    expect(out[50]).toMatch(/^… \d+ more lines$/);
  });

  it('honours the context option', () => {
    const diff = diffPrompts('a\nb\nc\nd\ne\n', 'a\nb\nX\nd\ne\n', { context: 1 });
    expect(diff).toBe(['@@ -2,3 +2,3 @@', ' b', '-c', '+X', ' d'].join('\n'));
  });
});
