/**
 * How figures read in every text format: exact integers with thousands separators, bytes in
 * base 1000, milliseconds at a precision that suits them, SQL on one line. Shared by the table,
 * markdown, gate, sweep and HTML renderers (and depending on none of them).
 */

/** U+2212: a real minus sign reads better than a hyphen in a column of changes. */
export const MINUS = '\u2212';

/** Inserts thousands separators into a string of digits. */
function groupDigits(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * An exact integer with thousands separators, or a mean with one decimal when not whole.
 *
 * @example
 * formatNumber(3456789); // => '3,456,789'
 * formatNumber(27.25); // => '27.3'
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? MINUS : '';
  const abs = Math.abs(n);
  if (Number.isInteger(abs)) return sign + groupDigits(String(abs));
  const [whole, fraction] = abs.toFixed(1).split('.');
  return `${sign}${groupDigits(whole)}.${fraction}`;
}

const BYTE_UNITS = ['kB', 'MB', 'GB', 'TB'];

/**
 * Bytes, human-readable in base 1000 with one decimal (`312.4 kB`); below 1 kB as a number of bytes.
 *
 * @example
 * formatBytes(312_400); // => '312.4 kB'
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? MINUS : '';
  const abs = Math.abs(n);
  if (abs < 1000) return `${sign}${formatNumber(abs)} B`;
  let value = abs;
  let unit = '';
  for (const u of BYTE_UNITS) {
    value /= 1000;
    unit = u;
    // Move up a unit when rounding would print 1000.0 kB.
    if (Number(value.toFixed(1)) < 1000) break;
  }
  const [whole, fraction] = value.toFixed(1).split('.');
  return `${sign}${groupDigits(whole)}.${fraction} ${unit}`;
}

/**
 * Milliseconds with a precision that suits their size (`0.812 ms`, `3.10 ms`, `64.2 ms`, `20.3 s`).
 *
 * @example
 * formatMs(3.1); // => '3.10 ms'
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(2)} s` : `${formatNumber(Number(s.toFixed(1)))} s`;
}

/** `1 turn`, `12 turns`, with thousands separators. */
export function plural(n: number, word: string, words = `${word}s`): string {
  return `${formatNumber(n)} ${n === 1 ? word : words}`;
}

/** Collapses whitespace so SQL fits on one line, and cuts it at `max` code points. */
export function oneLine(sql: string, max = 100): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

/** Drops trailing blanks, including blanks hidden before a closing colour code. */
export function trimLines(text: string): string {
  return (
    text
      .split('\n')
      // eslint-disable-next-line no-control-regex
      .map((line) => line.replace(/[ \t]+((?:\u001b\[[0-9;]*m)*)$/, '$1'))
      .join('\n')
  );
}

