/** Server error messages lose the values they quote, and keep the identifiers a reader needs. */
import { describe, expect, it } from 'vitest';
import { redactErrorMessage } from '../../src/core/analysis/error-redaction.js';

const hide = (value: string) => `<${value.length}>`;

describe('redactErrorMessage', () => {
  it.each([
    ['invalid input syntax for type integer: "alice@example.com" (SQLSTATE 22P02)', 'invalid input syntax for type integer: "<17>" (SQLSTATE 22P02)'],
    ['value "99999999999" is out of range for type integer (SQLSTATE 22003)', 'value "<11>" is out of range for type integer (SQLSTATE 22003)'],
    // PostgreSQL does not escape a quote inside the value it quotes.
    ['invalid input value for enum mood: "say "hi"" (SQLSTATE 22P02)', 'invalid input value for enum mood: "<8>" (SQLSTATE 22P02)'],
    [`syntax error at or near "'a"b'" (SQLSTATE 42601)`, 'syntax error at or near "<5>" (SQLSTATE 42601)'],
    [`syntax error at or near "'alice@example.com'" (SQLSTATE 42601)`, 'syntax error at or near "<19>" (SQLSTATE 42601)'],
    [`syntax error at or near "E'x'" (SQLSTATE 42601)`, 'syntax error at or near "<4>" (SQLSTATE 42601)'],
    ['card 4242 4242 declined (SQLSTATE P0001)', '<23> (SQLSTATE P0001)'],
  ])('hides the data in %s', (message, expected) => {
    expect(redactErrorMessage(message, hide)).toBe(expected);
  });

  it.each([
    'relation "customers" does not exist (SQLSTATE 42P01)',
    'syntax error at or near "from" (SQLSTATE 42601)',
    'duplicate key value violates unique constraint "users_email_key" (SQLSTATE 23505)',
    'column "emial" does not exist (SQLSTATE 42703)',
    'canceling statement due to statement timeout (SQLSTATE 57014)',
    'Connection terminated unexpectedly',
  ])('keeps %s as the server wrote it', (message) => {
    expect(redactErrorMessage(message, hide)).toBe(message);
  });
});
