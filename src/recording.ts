/**
 * `ctxbench/recording`: for a Node program run under `ctxbench record` (or beside `ctxbench
 * proxy --prompt-log`), mark each turn on the program's own connection and log the prompt it
 * built, so the recording can check "context identical" turn by turn. Both do nothing unless
 * `CTXBENCH_RECORDING` is set, so they can stay in production code. Light on purpose: it imports
 * nothing but `node:fs`.
 */
import { appendFileSync } from 'node:fs';

/** Anything that runs SQL text: a `pg` Client or Pool (`query`), or knex (`raw`). */
export type SqlRunner = { query(sql: string): Promise<unknown> } | { raw(sql: string): PromiseLike<unknown> };

/** Whether this process runs under a ctxbench recording. */
export function isRecording(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.CTXBENCH_RECORDING);
}

/** The marker statement of a turn: `SELECT 'ctxbench:turn <label>'`, quotes doubled. */
export function turnMarkerSql(label: string): string {
  if (label.trim() === '' || /[\0\r\n]/.test(label)) {
    throw new Error(`ctxbench: a turn label must be non-empty text on one line, got ${JSON.stringify(label)}`);
  }
  return `SELECT 'ctxbench:turn ${label.replace(/'/g, "''")}'`;
}

/**
 * Marks the start of a turn on `db` (the connection the turn's statements use).
 *
 * @example
 * import { markTurn, logPrompt } from 'ctxbench/recording';
 * await markTurn(client, `${conversationId}/${messageId}`);
 * const prompt = await buildPrompt(client, messageId);
 * logPrompt(`${conversationId}/${messageId}`, prompt);
 */
export async function markTurn(db: SqlRunner, label: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!isRecording(env)) return;
  const sql = turnMarkerSql(label);
  if ('raw' in db) await db.raw(sql);
  else await db.query(sql);
}

/**
 * Appends the turn's prompt to the prompt log (`CTXBENCH_PROMPT_LOG`): a string, or any JSON
 * value (compared as canonical JSON). One line, one write, so several processes may append.
 *
 * @example
 * logPrompt('c1/m1', prompt);
 */
export function logPrompt(label: string, prompt: unknown, env: NodeJS.ProcessEnv = process.env): void {
  if (!isRecording(env)) return;
  const file = env.CTXBENCH_PROMPT_LOG;
  if (!file) throw new Error('ctxbench: CTXBENCH_RECORDING is set but CTXBENCH_PROMPT_LOG is not: run the program under `ctxbench record`');
  turnMarkerSql(label); // the same rules for a label
  appendFileSync(file, `${JSON.stringify({ turn: label, prompt })}\n`, { encoding: 'utf8', flag: 'a' });
}
