/**
 * `--format json`: the report as a stable document (docs/design.md §6). Keys appear in the order the
 * report object was built, which follows the model's declared order, so two runs with the
 * same figures print the same text.
 */
import type { Report } from './model.js';

/**
 * The report as JSON with 2-space indentation and a trailing newline.
 *
 * @example
 * process.stdout.write(renderJson(report));
 */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
