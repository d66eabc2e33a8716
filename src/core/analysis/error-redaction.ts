/**
 * Server error messages without the customer data they quote. PostgreSQL names identifiers in
 * its messages (`relation "users" does not exist`), which a reader needs, but it also quotes
 * input values: every data exception (SQLSTATE class 22: `invalid input syntax for type
 * integer: "alice@example.com"`, `value "…" is out of range`), the token a syntax error stops
 * at, when that token is a literal (`syntax error at or near "'alice@example.com'"`), and
 * whatever a function's RAISE says (P0001). Those, and only those, are replaced.
 */

const SQLSTATE = / \(SQLSTATE ([0-9A-Z]{5})\)$/;
const LITERAL_TOKEN = /^(?:[eEbBxX]|[uU]&)?'|^\$[A-Za-z_]*\$/;

/**
 * Whether a quoted part of a message is itself an SQL literal: '…', E'…', B'…', X'…', U&'…'
 * or $tag$…$tag$ (the token a syntax error names), not a bare value.
 *
 * @example
 * isLiteralToken("'alice'") // true
 * isLiteralToken('alice')   // false
 */
export function isLiteralToken(value: string): boolean {
  return LITERAL_TOKEN.test(value);
}

/**
 * `message` (as the statement tracker stores it: the server's text, then ` (SQLSTATE xxxxx)`)
 * with the values it quotes replaced by `hide(value)`; identifiers and the SQLSTATE stay.
 *
 * @example
 * redactErrorMessage('invalid input syntax for type integer: "alice" (SQLSTATE 22P02)', () => '<redacted>')
 * // => 'invalid input syntax for type integer: "<redacted>" (SQLSTATE 22P02)'
 */
export function redactErrorMessage(message: string, hide: (value: string) => string): string {
  const state = SQLSTATE.exec(message);
  const code = state?.[1] ?? '';
  const text = state === null ? message : message.slice(0, state.index);
  const suffix = state === null ? '' : state[0];
  // RAISE: the whole text is the function's, so it may be anything.
  if (code === 'P0001') return `${hide(text)}${suffix}`;
  // PostgreSQL writes a value between double quotes without escaping the quotes inside it, so
  // the value runs from the first quote to the last: the message quotes nothing after it.
  const first = /"([^"]*)/.exec(text);
  const quotesData = code.startsWith('22') || (first !== null && isLiteralToken(first[1]!));
  const redacted = quotesData ? text.replace(/"([\s\S]*)"/, (_whole, value: string) => `"${hide(value)}"`) : text;
  return `${redacted}${suffix}`;
}
