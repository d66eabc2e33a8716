/**
 * Errors that carry their exit code (docs/design.md §6). Anything thrown that is not a CtxbenchError
 * is an internal error and is reported as one.
 */

/**
 * Exit codes, as documented in the README and `--help`.
 *
 * @example
 * process.exitCode = ExitCode.usage; // 2
 */
export const ExitCode = {
  ok: 0,
  /** A budget was exceeded, a context differs, or a strategy failed. */
  failed: 1,
  /** Bad usage or bad input (flags, fixtures, strategy files). */
  usage: 2,
  /** Database unreachable, refused, or timed out. */
  database: 3,
  /** Something ctxbench did not expect: a bug. */
  internal: 70,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Base class: a one-line message meant for the user, and the exit code it maps to.
 *
 * @example
 * if (error instanceof CtxbenchError) process.exitCode = error.exitCode;
 */
export class CtxbenchError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/**
 * Bad usage or input (exit 2). Several problems found in one pass are joined, one per line.
 *
 * @example
 * throw new UsageError('--repeat: expected a whole number ≥ 1, got "abc"');
 */
export class UsageError extends CtxbenchError {
  readonly problems: string[];
  constructor(problems: string | string[], options?: { cause?: unknown }) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join('\n'), ExitCode.usage, options);
    this.problems = list;
  }
}

/**
 * The database could not be reached, refused us, or timed out (exit 3).
 *
 * @example
 * throw new DatabaseError('cannot connect to postgres://app:***@db/app: connection refused');
 */
export class DatabaseError extends CtxbenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.database, options);
  }
}

/**
 * A strategy failed while building a turn (exit 1): names the strategy, the turn and the SQL.
 *
 * @example
 * throw new StrategyError('strategy "mine" failed on turn c1/m1: …');
 */
export class StrategyError extends CtxbenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.failed, options);
  }
}

/**
 * A `password=` or `sslpassword=` setting, as a URL query parameter (`?password=…&`) or in a libpq
 * keyword/value string (`host=db password='s3 cret'`): the value is group 2.
 */
const PASSWORD_SETTING = /((?<![a-z0-9_])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&#]*)/gi;

function maskSettings(text: string): string {
  return text.replace(PASSWORD_SETTING, '$1***');
}

/**
 * Replaces the passwords of a connection string with `***`, so it can be shown in any message:
 * the `user:password@` of a URL, its `?password=` and `?sslpassword=` parameters, and
 * `password=` in a libpq keyword/value string.
 *
 * @example
 * maskUrl('postgres://me:secret@db/app') // 'postgres://me:***@db/app'
 * maskUrl('postgres://me@db/app?password=secret') // 'postgres://me@db/app?password=***'
 * maskUrl("host=db password='s e c r e t'") // 'host=db password=***'
 */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return maskSettings(parsed.toString());
  } catch {
    // Not a URL we can parse: hide anything that looks like user:password@, or password=.
    return maskSettings(url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@'));
  }
}

/**
 * Masks every password-looking part of connection strings inside an arbitrary message: the
 * `user:password@` of URLs and every `password=` / `sslpassword=` setting.
 *
 * @example
 * maskSecrets('cannot connect to postgres://u:pw@db/x?sslpassword=k') // 'cannot connect to postgres://u:***@db/x?sslpassword=***'
 */
export function maskSecrets(text: string): string {
  return maskSettings(text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi, '$1:***@'));
}
