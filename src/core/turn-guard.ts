/**
 * What stops a measured turn before its strategy returns: a time limit, an interruption
 * (Ctrl-C, SIGTERM), or a strategy trying to leave the READ ONLY transaction it runs in.
 */
import net from 'node:net';

/** Why a turn was stopped. */
export type StopReason = 'timeout' | 'interrupted' | 'read-only';

/**
 * A measured call that did not finish on its own. Its message completes the sentence
 * `strategy "x" … on turn t`, which the runner builds; `detail`, when any, follows it.
 *
 * @example
 * if (m.error instanceof TurnStopped && m.error.reason === 'interrupted') break;
 */
export class TurnStopped extends Error {
  readonly reason: StopReason;
  readonly detail: string | null;
  constructor(reason: StopReason, message: string, detail: string | null = null) {
    super(message);
    this.name = 'TurnStopped';
    this.reason = reason;
    this.detail = detail;
  }
}

/**
 * `60 s`, `1.5 s` or `250 ms`: how a time limit is shown.
 *
 * @example
 * formatDuration(60_000) // '60 s'
 */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(3))} s` : `${ms} ms`;
}

/**
 * Comments, string literals and quoted identifiers, in one left-to-right pass (whichever starts
 * first wins, as in the lexer). Backslash escapes only in E'…' strings: a standard 'a\' ends
 * at its second quote.
 */
const NOT_CODE = /\/\*[\s\S]*?\*\/|--[^\n]*|(\$[A-Za-z_]*\$)[\s\S]*?\1|\b[eE]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'|"(?:[^"]|"")*"/g;

/** Blanks out comments, literals and quoted identifiers, so keywords inside them are not seen. */
function stripLiterals(sql: string): string {
  return sql.replace(NOT_CODE, ' ');
}

// Statements that end, open or re-characterise a transaction. SAVEPOINT, RELEASE and
// ROLLBACK TO stay inside the transaction and are allowed.
const TRANSACTION_CONTROL =
  /^(begin|start\s+transaction|commit|end|abort|rollback(?!\s+to\b)|prepare\s+transaction|set\s+transaction|set\s+session\s+characteristics|(set|reset)\s+((session|local)\s+)?(default_)?transaction_read_only|reset\s+all|discard\s+all)\b/i;

/**
 * The first statement of `sql` that would end or change the turn's READ ONLY transaction
 * (COMMIT, ROLLBACK, BEGIN, SET TRANSACTION, SET SESSION CHARACTERISTICS, setting
 * `default_transaction_read_only` …), as written; null when there is none.
 *
 * @example
 * transactionControl('select 1; commit; begin') // 'commit'
 * transactionControl("select 'commit'")         // null
 */
export function transactionControl(sql: string): string | null {
  for (const part of stripLiterals(sql).split(';')) {
    const statement = part.trim();
    const m = TRANSACTION_CONTROL.exec(statement);
    if (m) return statement.replace(/\s+/g, ' ').slice(0, 80);
  }
  return null;
}

/**
 * Asks the server to cancel the statement a backend is running: a CancelRequest (the backend's
 * pid and secret key, from its BackendKeyData) on a new connection, as libpq's PQcancel does.
 * Resolves when the server closed that connection, or after `timeoutMs`; never throws.
 *
 * @example
 * await sendCancelRequest({ host: '127.0.0.1', port: 5432, processId: client.processID, secretKey: client.secretKey });
 */
export function sendCancelRequest(
  target: { host: string; port: number; processId: number; secretKey: number },
  timeoutMs = 2000,
): Promise<void> {
  return new Promise((resolve) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4); // the CancelRequest code: 1234 << 16 | 5678
    packet.writeInt32BE(target.processId | 0, 8);
    packet.writeInt32BE(target.secretKey | 0, 12);
    const socket = target.host.startsWith('/')
      ? net.connect({ path: `${target.host}/.s.PGSQL.${target.port}` })
      : net.connect({ host: target.host, port: target.port });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    socket.once('connect', () => socket.end(packet));
    socket.once('close', done);
    socket.once('error', done);
  });
}
