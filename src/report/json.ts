/**
 * `--format json`: the report as a stable document (docs/design.md §6). Keys appear in the order the
 * report object was built, which follows the model's declared order, so two runs with the
 * same figures print the same text.
 */
import { randomBytes } from 'node:crypto';
import type { Report, StrategyReport, TurnDetail } from './model.js';

/**
 * How much of each turn the report carries (`--details`): `all` (the default) every turn with
 * its statements; `summary` every turn's figures and prompt hash without its statements; `none`
 * no `turnDetails` at all — for a long run whose report would otherwise be mostly statements.
 */
export type DetailLevel = 'all' | 'summary' | 'none';

/** The values of `--details`, the default first. */
export const DETAIL_LEVELS: readonly DetailLevel[] = ['all', 'summary', 'none'];

/** The help text of `--details`, the same for every command that has it. */
export const DETAILS_HELP = `turn details in a JSON report: ${DETAIL_LEVELS.join(', ')} (summary: without statements)`;

/** Options of {@link renderJson} and {@link renderJsonChunks}. */
export interface JsonOptions {
  /** Default `all`: the report as it is. */
  details?: DetailLevel;
}

/**
 * A turn's detail as `summary` shows it: the same keys in the same order, without `statements`.
 *
 * @example
 * summaryOf(report.strategies[0].turnDetails[0]).promptSha256;
 */
export function summaryOf(detail: TurnDetail): Omit<TurnDetail, 'statements'> {
  const { statements: _statements, ...rest } = detail;
  return rest;
}

function withDetails(strategy: StrategyReport, level: DetailLevel): object {
  if (level === 'all') return strategy;
  const { turnDetails, ...rest } = strategy;
  return level === 'none' ? rest : { ...rest, turnDetails: turnDetails.map(summaryOf) };
}

/**
 * The report as JSON with 2-space indentation and a trailing newline.
 *
 * @example
 * process.stdout.write(renderJson(report));
 * process.stdout.write(renderJson(report, { details: 'summary' }));
 */
export function renderJson(report: Report, options: JsonOptions = {}): string {
  const level = options.details ?? 'all';
  const shown = level === 'all' ? report : { ...report, strategies: report.strategies.map((s) => withDetails(s, level)) };
  return `${JSON.stringify(shown, null, 2)}\n`;
}

/** Text is handed on in pieces of about this many characters. */
const CHUNK = 1 << 16;

/**
 * {@link renderJson} of a report whose turn details are kept elsewhere (a long run spills them
 * to disk, see `TurnDetailSpill`): the same text, in pieces, reading each strategy's details
 * from `details(strategyIndex)` only while they are written, so they are never all in memory.
 * Without `details`, the report's own `turnDetails`: the same text without ever holding all of
 * it in one string (a long recording's is hundreds of MB).
 *
 * @example
 * await writeFile('report.json', renderJsonChunks(report, (s) => spill.read(s)));
 * await writeFile('recording.json', renderJsonChunks(recording));
 */
export async function* renderJsonChunks(
  report: Report,
  details: (strategy: number) => AsyncIterable<TurnDetail> | Iterable<TurnDetail> = (s) => report.strategies[s]!.turnDetails,
  options: JsonOptions = {},
): AsyncGenerator<string> {
  const level = options.details ?? 'all';
  if (level === 'none') {
    yield renderJson(report, options);
    return;
  }
  // Each strategy's details become a placeholder string, replaced below by the streamed items.
  // The nonce keeps it from matching any string the report itself holds.
  const nonce = randomBytes(8).toString('hex');
  const skeleton = {
    ...report,
    strategies: report.strategies.map((s, i) => ({ ...s, turnDetails: `\u0000ctxbench-${nonce}-${i}` })),
  };
  const text = `${JSON.stringify(skeleton, null, 2)}\n`;
  // Items of a strategy's turnDetails sit at depth 4 (report, strategies, strategy, turnDetails).
  const itemIndent = ' '.repeat(8);
  const closeIndent = ' '.repeat(6);
  let at = 0;
  let buffer = '';
  for (const m of text.matchAll(new RegExp(`"\\\\u0000ctxbench-${nonce}-(\\d+)"`, 'g'))) {
    buffer += text.slice(at, m.index);
    at = m.index! + m[0].length;
    let first = true;
    for await (const detail of details(Number(m[1]))) {
      const item = JSON.stringify(level === 'summary' ? summaryOf(detail) : detail, null, 2).replace(/^/gm, itemIndent);
      buffer += `${first ? '[\n' : ',\n'}${item}`;
      first = false;
      if (buffer.length >= CHUNK) {
        yield buffer;
        buffer = '';
      }
    }
    buffer += first ? '[]' : `\n${closeIndent}]`;
  }
  yield buffer + text.slice(at);
}
