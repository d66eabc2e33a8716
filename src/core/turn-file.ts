/**
 * Turns from a file (`--turns turns.json` or `.ndjson`): arbitrary JSON objects handed to each
 * strategy's `build` unchanged, so users replay their own conversations on their own schema.
 */
import { UsageError } from './errors.js';
import { readTextFile } from './read-text.js';
import type { TurnInput } from './runner.js';

/**
 * Reads and validates a turns file: a JSON array of objects, or NDJSON with one object per
 * line. Every problem is reported at once, naming the file and the entry or line.
 *
 * @example
 * const turns = await loadTurnsFile('examples/own-schema/turns.json');
 */
export async function loadTurnsFile(file: string): Promise<unknown[]> {
  const text = await readTextFile(file, '--turns');
  const problems: string[] = [];
  let turns: unknown[] = [];
  if (/\.ndjson$|\.jsonl$/i.test(file)) {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        turns.push(JSON.parse(line));
      } catch (error) {
        problems.push(`${file}: line ${i + 1}: not valid JSON (${(error as Error).message})`);
      }
    });
  } else {
    try {
      const parsed: unknown = JSON.parse(text);
      if (!Array.isArray(parsed)) problems.push(`${file}: expected a JSON array of turn objects, got ${describe(parsed)}`);
      else turns = parsed;
    } catch (error) {
      problems.push(`${file}: not valid JSON (${(error as Error).message})`);
    }
  }
  turns.forEach((turn, i) => {
    if (typeof turn !== 'object' || turn === null || Array.isArray(turn)) {
      problems.push(`${file}: turn ${i + 1}: expected an object, got ${describe(turn)}`);
    }
  });
  if (problems.length === 0 && turns.length === 0) problems.push(`${file}: no turns`);
  if (problems.length > 0) throw new UsageError(problems);
  return turns;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Names arbitrary turns for reports: their `id`, `label` or `name` field, else `#n`;
 * `conversationId`/`messageId` fields are kept when they are strings.
 *
 * @example
 * customTurnInputs([{ id: 'ticket-7', question: '…' }])[0].label // 'ticket-7'
 */
export function customTurnInputs(turns: readonly unknown[]): TurnInput[] {
  return turns.map((turn, i) => {
    const t = turn as Record<string, unknown>;
    const named = [t.id, t.label, t.name].find((v) => typeof v === 'string' || typeof v === 'number');
    return {
      turn,
      label: named === undefined ? `#${i + 1}` : String(named),
      conversationId: typeof t.conversationId === 'string' ? t.conversationId : null,
      messageId: typeof t.messageId === 'string' ? t.messageId : null,
    };
  });
}
