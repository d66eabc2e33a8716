/**
 * Output of `ctxbench sweep`: one row per strategy × section × metric, one column per scale,
 * and a flag on every figure that grows with the data.
 */
import Table from 'cli-table3';
import { Chalk } from 'chalk';
import type { SweepResult } from '../commands/sweep.js';
import { formatBytes, formatNumber, trimLines } from './table.js';

const NAMES = { queries: 'queries', roundTrips: 'round trips', bytes: 'bytes', payloadBytes: 'payload bytes', rows: 'rows' } as const;

function value(metric: keyof typeof NAMES, n: number): string {
  return metric === 'bytes' || metric === 'payloadBytes' ? formatBytes(n) : formatNumber(n);
}

/**
 * @example
 * process.stdout.write(renderSweepTable(result, { color: false }));
 */
export function renderSweepTable(result: SweepResult, options: { color: boolean }): string {
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
  const table = new Table({
    head: ['strategy', 'section', 'per turn', ...result.scales, 'with the data'].map((h) => chalk.bold(h)),
    colAligns: ['left', 'left', 'left', ...result.scales.map(() => 'right' as const), 'left'],
    style: { head: [], border: [], compact: true },
  });
  for (const r of result.rows) {
    if (r.metric === 'roundTrips' || r.metric === 'payloadBytes') continue;
    const last = r.values.at(-1)!;
    const first = r.values[0]!;
    const verdict = r.grows ? chalk.red(`grows ×${formatNumber(Math.round((last / first) * 10) / 10)}`) : chalk.green('flat');
    table.push([r.strategy, r.section ?? 'all', NAMES[r.metric], ...r.values.map((v) => value(r.metric, v)), verdict]);
  }
  const growing = result.rows.filter((r) => r.grows);
  const out = [table.toString(), ''];
  out.push(
    growing.length === 0
      ? 'No figure grows with the data.'
      : `${growing.length} figure${growing.length === 1 ? '' : 's'} grow${growing.length === 1 ? 's' : ''} with the data: ${growing
          .map((r) => `${r.strategy}${r.section ? ` ${r.section}` : ''} ${NAMES[r.metric]}`)
          .join(', ')}`,
  );
  return `${trimLines(out.join('\n'))}\n`;
}

/** The sweep as JSON: scales and rows (reports omitted: run compare for those). */
export function renderSweepJson(result: SweepResult): string {
  return `${JSON.stringify({ version: 1, scales: result.scales, rows: result.rows }, null, 2)}\n`;
}
