/**
 * `diagnose`: a one-off, read-only look at what building the AI context really costs on a
 * production (or staging) database, replaying real conversations from the data already there.
 * Safe by construction for someone in a hurry: read-only connection, timeouts, no content in
 * the output unless asked, and every schema mismatch named before anything runs.
 */
import { explainStatements, type ExplainResult } from '../core/diagnostics/explain.js';
import { diffStatStatements, serverSettings, snapshotStatStatements, type StatStatementsDiff } from '../core/diagnostics/server-stats.js';
import { UsageError } from '../core/errors.js';
import { referenceTurnInputs, runStrategies, type RunProgress } from '../core/runner.js';
import { checkSchema } from '../core/schema-check.js';
import { loadTokenizer, type TokenizerName } from '../core/tokens.js';
import { listTurns } from '../core/turns.js';
import { selectShard, type ShardSpec } from '../core/shard.js';
import type { Strategy, Turn } from '../core/types.js';
import { openDatabase } from '../db/open-database.js';
import { openSessions } from './compare.js';
import { REPORT_VERSION, type Report } from '../report/model.js';
import { redactReport } from '../report/redact.js';
import { TOOL_VERSION } from '../version.js';

/** Options of {@link diagnose}. */
export interface DiagnoseOptions {
  /** The database (required: diagnose never seeds or uses the embedded one). */
  url: string;
  strategies: Strategy[];
  /** Conversations to replay… */
  conversations?: string[];
  /** …or the `recent` most recently updated conversations of `tenant`. */
  recent?: number;
  tenant?: string;
  /** Replay only the last N customer messages of each conversation. */
  lastTurns?: number;
  /** Replay only one part of the turns (`--shard i/n`); `merge` joins the parts' reports. */
  shard?: ShardSpec;
  repeat?: number;
  /** Show message contents, prompt diffs and SQL parameters (off: redacted). */
  showContent?: boolean;
  /**
   * Measure the fix of each N+1 group and `SELECT *` with unused columns (default false: the
   * rewrites are extra statements on the server, read-only and never counted).
   */
  whatIf?: boolean;
  /** EXPLAIN each distinct statement once; `analyze` runs it again to time it (still read-only). */
  explain?: 'plan' | 'analyze';
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How prompt tokens are counted (default `o200k`); `none` leaves them out. */
  tokenizer?: TokenizerName;
  /** Limit of one build of one turn, milliseconds (default 60 000; 0: none). */
  turnTimeoutMs?: number;
  onProgress?: (progress: RunProgress) => void;
  signal?: AbortSignal;
  /**
   * Turns measured at once, each on a connection of its own (default 1): the same exact
   * figures, findings and prompt hashes as one; the server sees that many ctxbench connections.
   */
  concurrency?: number;
}

/** The diagnosis: a report plus what the server says. */
export interface Diagnosis extends Report {
  diagnosis: {
    /** True when the run was interrupted: the report covers the turns completed until then. */
    interrupted: boolean;
    redacted: boolean;
    settings: Record<string, string>;
    explain: { analyze: boolean; results: ExplainResult[] } | null;
    statStatements: StatStatementsDiff;
  };
}

/**
 * @example
 * const d = await diagnose({ url: process.env.DATABASE_URL!, strategies: [naiveStrategy, optimizedStrategy], recent: 3, tenant: '42' });
 */
export async function diagnose(options: DiagnoseOptions): Promise<Diagnosis> {
  const db = await openDatabase({
    url: options.url,
    anySchema: true,
    statementTimeoutMs: options.statementTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
  });
  try {
    const control = db.session.control;
    await checkSchema(control, options.strategies);
    const conversations = options.conversations ?? (await recentConversations(control, options));
    let turns: Turn[] = await listTurns(control, conversations);
    if (options.lastTurns !== undefined) turns = lastPerConversation(turns, options.lastTurns);
    const inputs = referenceTurnInputs(turns);
    const sharded = options.shard === undefined ? null : selectShard(inputs, options.shard);

    const before = await snapshotStatStatements(control);
    const tokenizer = await loadTokenizer(options.tokenizer);
    const sessions = await openSessions(db, Math.max(1, Math.floor(options.concurrency ?? 1)), {
      anySchema: true,
      statementTimeoutMs: options.statementTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    let strategies: Awaited<ReturnType<typeof runStrategies>>;
    try {
      strategies = await runStrategies(sessions.sessions, sharded?.turns ?? inputs, options.strategies, {
        countTokens: tokenizer?.count,
        repeat: options.repeat,
        onProgress: options.onProgress,
        signal: options.signal,
        turnTimeoutMs: options.turnTimeoutMs,
        redactContent: !options.showContent,
        whatIf: options.whatIf === true,
      });
    } finally {
      await sessions.close();
    }
    const interrupted = options.signal?.aborted ?? false;
    const all = strategies.flatMap((s) => s.turnDetails.flatMap((t) => t.statements));
    const statStatements = diffStatStatements(before, await snapshotStatStatements(control), all);
    let explain: Diagnosis['diagnosis']['explain'] = null;
    if (options.explain !== undefined && !interrupted) {
      const results = await explainStatements(control, all, { analyze: options.explain === 'analyze' });
      // Plans name the SQL as sent; without --show-content keep only its fingerprint.
      if (!options.showContent) for (const r of results) r.sql = r.fingerprint;
      explain = { analyze: options.explain === 'analyze', results };
    }
    if (!options.showContent && statStatements.available) for (const m of statStatements.statements) m.sql = m.fingerprint;
    const report: Report = {
      version: REPORT_VERSION,
      tool: { name: 'ctxbench', version: TOOL_VERSION },
      database: db.info,
      dataset: null,
      repeat: Math.max(1, Math.floor(options.repeat ?? 1)),
      tokenizer: tokenizer?.encoding ?? null,
      baseline: options.strategies[0]!.name,
      strategies,
      contextIdentical: strategies.every((s) => s.contextIdentical),
    };
    if (sharded !== null) report.shard = sharded.shard;
    const shown = options.showContent ? report : redactReport(report);
    return {
      ...shown,
      diagnosis: {
        interrupted,
        redacted: !options.showContent,
        settings: await serverSettings(control),
        explain,
        statStatements,
      },
    };
  } finally {
    await db.close();
  }
}

async function recentConversations(control: Parameters<typeof listTurns>[0], options: DiagnoseOptions): Promise<string[]> {
  if (options.recent === undefined || options.tenant === undefined) {
    throw new UsageError('diagnose: name the conversations with --conversation ID[,ID…], or use --recent N with --tenant ID');
  }
  const { rows } = await control.raw(
    `select c.id from conversations c
      where c.user_id::text = ? and exists (select 1 from messages m where m.conversation_id = c.id and m.type = 'customer')
      order by c.updated_at desc nulls last, c.id collate "C" limit ?`,
    [options.tenant, options.recent],
  );
  if (rows.length === 0) throw new UsageError(`--tenant: tenant "${options.tenant}" has no conversations with customer messages`);
  return rows.map((r: { id: string }) => r.id);
}

function lastPerConversation(turns: Turn[], n: number): Turn[] {
  const out: Turn[] = [];
  const byConversation = new Map<string, Turn[]>();
  for (const t of turns) {
    if (!byConversation.has(t.conversationId)) byConversation.set(t.conversationId, []);
    byConversation.get(t.conversationId)!.push(t);
  }
  for (const list of byConversation.values()) out.push(...list.slice(-n));
  return out;
}
