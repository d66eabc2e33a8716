/**
 * The prompt log: how a program in any language tells ctxbench what prompt it built for each
 * turn, so a recording can say "context identical" as a built strategy does. The program appends
 * one JSON line per turn to the file `CTXBENCH_PROMPT_LOG` names:
 *
 *     {"turn": "<label>", "prompt": "<text>"}
 *
 * where the label is the one its turn marker sent (`SELECT 'ctxbench:turn <label>'`). A prompt
 * that is not a string is compared as canonical JSON (keys sorted), as with `--turns`
 * strategies. Every malformed line is named by its line number; the good lines still count.
 */
import { promptBytes, promptSha256 } from './render/prompt-renderer.js';
import { canonicalJson } from './runner.js';

/** Refuses bytes that are not UTF-8 instead of replacing them with U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** One turn's prompt as the program logged it. */
export interface LoggedPrompt {
  label: string;
  /** The text compared and hashed: the string itself, or canonical JSON of any other value. */
  text: string;
  /** 1-based line of the log it came from. */
  line: number;
}

/** What reading a prompt log found. */
export interface PromptLog {
  /** How messages name the log (its path, or `prompt log` for a temporary file). */
  file: string;
  /** By label, in the order first logged. */
  prompts: Map<string, LoggedPrompt>;
  /** One line each, naming the file and the line (`prompts.ndjson: line 3: not JSON (…)`). */
  problems: string[];
}

/**
 * Parses a prompt log's bytes. Problems: not UTF-8, not JSON, not an object, no `turn` (a
 * non-empty string), no `prompt`, a second prompt for one label.
 *
 * @example
 * const log = parsePromptLog(Buffer.from('{"turn":"a","prompt":"hi"}\n'), 'prompts.ndjson');
 * log.prompts.get('a')?.text // 'hi'
 */
export function parsePromptLog(bytes: Uint8Array, file: string): PromptLog {
  const prompts = new Map<string, LoggedPrompt>();
  const problems: string[] = [];
  const lines = splitLines(bytes);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const at = (message: string) => problems.push(`${file}: line ${line}: ${message}`);
    let text: string;
    try {
      text = strictUtf8.decode(raw);
    } catch {
      at('not UTF-8 text');
      return;
    }
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      at(`not JSON (${(error as Error).message})`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      at('expected an object {"turn": "<label>", "prompt": …}');
      return;
    }
    const entry = value as Record<string, unknown>;
    if (typeof entry.turn !== 'string' || entry.turn.trim() === '') {
      at('no "turn": expected the label the turn marker sent, as a non-empty string');
      return;
    }
    if (!('prompt' in entry) || entry.prompt === undefined) {
      at(`no "prompt" for turn "${entry.turn}"`);
      return;
    }
    const label = entry.turn.trim();
    const first = prompts.get(label);
    if (first !== undefined) {
      at(`a second prompt for turn "${label}" (the first is on line ${first.line})`);
      return;
    }
    const prompt = typeof entry.prompt === 'string' ? entry.prompt : canonicalJson(entry.prompt);
    prompts.set(label, { label, text: prompt, line });
  });
  return { file, prompts, problems };
}

/** Splits on LF (a trailing CR is dropped), keeping bytes so each line's encoding is checked on its own. */
function splitLines(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      let end = i;
      if (end > start && bytes[end - 1] === 0x0d) end -= 1;
      if (i < bytes.length || end > start) out.push(bytes.subarray(start, end));
      start = i + 1;
    }
  }
  return out;
}

/** A logged prompt's figures, as a built strategy's turn carries them. */
export interface PromptFigures {
  promptBytes: number;
  promptSha256: string;
}

/**
 * The UTF-8 size and sha256 of a prompt's text: the same figures a built strategy's turn has.
 *
 * @example
 * promptFigures('hi') // { promptBytes: 2, promptSha256: '8f434346…' }
 */
export function promptFigures(text: string): PromptFigures {
  return { promptBytes: promptBytes(text), promptSha256: promptSha256(text) };
}

/**
 * Matches logged prompts to the recording's units by label. Returns the problems of labels
 * that no unit has (`line N: turn "x" has no unit: …`).
 *
 * @example
 * const unmatched = unmatchedPrompts(log, new Set(['a', 'b']));
 */
export function unmatchedPrompts(log: PromptLog, labels: ReadonlySet<string>, file = log.file): string[] {
  const out: string[] = [];
  for (const p of log.prompts.values()) {
    if (!labels.has(p.label))
      out.push(`${file}: line ${p.line}: turn "${p.label}" has no unit: no statement carried that label's turn marker`);
  }
  return out;
}
