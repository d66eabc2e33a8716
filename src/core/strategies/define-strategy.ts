/**
 * The one way to declare a strategy, for the built-in ones and for users' own files alike.
 */
import type { Strategy, Turn } from '../types.js';

/**
 * Declares a context-building strategy. `build` receives the instrumented database and the
 * turn (the reference schema's Turn, or your own turn type with `--turns`), and returns a
 * PromptContext (rendered by ctxbench's renderer), a prompt string, or an object of your own.
 *
 * @example
 * export default defineStrategy({
 *   name: 'mine',
 *   async build(db, turn) {
 *     const { rows } = await db.query('select content from messages where id = $1', [turn.messageId]);
 *     return String(rows[0]?.content ?? '');
 *   },
 * });
 */
export function defineStrategy<TTurn = Turn>(strategy: Strategy<TTurn>): Strategy<TTurn> {
  if (typeof strategy !== 'object' || strategy === null) throw new TypeError('defineStrategy: expected an object { name, build }');
  if (typeof strategy.name !== 'string' || !/^[\w.-]+$/.test(strategy.name)) {
    throw new TypeError(`defineStrategy: name must be a non-empty word (letters, digits, _ . -), got ${JSON.stringify(strategy.name)}`);
  }
  if (typeof strategy.build !== 'function') throw new TypeError(`defineStrategy: strategy "${strategy.name}" has no build function`);
  return strategy;
}
