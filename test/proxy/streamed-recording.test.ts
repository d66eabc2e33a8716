/**
 * A long recording's memory is bounded: the proxy hands its statements to a log on disk, the
 * report folds one unit at a time and spills the units' details, and the JSON streams them back.
 * The reports must be the ones built in memory, byte for byte, in every format that reads them.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { StatementLog, recordingReport, startWireProxy, upstreamOf, proxiedUrl, type RecordedTurn } from '../../src/commands/record.js';
import { RecordSpill, TurnDetailSpill } from '../../src/core/detail-spill.js';
import type { ProxiedStatement, ProxyRecording } from '../../src/core/net/wire-proxy.js';
import { parsePromptLog } from '../../src/core/prompt-log.js';
import { DETAIL_LEVELS, renderJson, renderJsonChunks } from '../../src/report/json.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTable } from '../../src/report/table.js';
import { backendKinds, emptyBackend } from '../support/backends.js';
import { runInProcess } from '../support/cli.js';
import { describeIf } from '../support/skip.js';

const hasPsql = (() => {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * Three connections, transactions interleaved, a lone statement sent before another's
 * transaction ended, failed statements (more than the table lists), N+1 groups, duplicates and
 * SELECT *; handed over in the order they completed, not the order sent. With `markers`, turn
 * markers (a SELECT and a sqlcommenter comment) on two connections.
 */
function fixture(markers: boolean): ProxyRecording {
  const out: ProxiedStatement[] = [];
  let t = 0;
  const add = (c: number, sql: string, status: 'I' | 'T' | 'E' | null, extra: Partial<ProxiedStatement> = {}, sentAt = (t += 1)) =>
    out.push({
      connectionId: c,
      sql,
      params: [],
      sentAt,
      doneAt: sentAt + 0.3337 * ((out.length % 5) + 1),
      startsRoundTrip: out.length % 3 !== 1,
      rows: out.length % 4,
      wireBytes: 50 + out.length,
      sentBytes: 20,
      payloadBytes: out.length % 7,
      command: 'SELECT 1',
      error: null,
      status,
      ...extra,
    });
  for (let i = 0; i < 40; i++) {
    if (markers && i % 10 === 3) add(1, `select 'ctxbench:turn t${i}'`, 'I');
    if (markers && i === 25) add(2, `select ${i} /* ctxbench_turn='c${i}' */`, 'I');
    add(1, 'begin', 'T', { rows: 0 });
    add(2, `select * from users where id = ${i % 3}`, 'I');
    add(1, 'select name from users where id = $1', 'T', { params: [String(i % 4)] });
    add(3, 'select name from users where id = $1', i % 2 ? 'I' : null, { params: [String(i % 2)] }, t - 0.5);
    add(1, `update t set x = 'v${i}' where id = ${i}`, 'T');
    if (i % 3 === 0) add(2, `select broken${i}`, 'E', { error: `column "broken${i}" does not exist (SQLSTATE 42703)`, command: null, rows: 0 });
    add(1, 'commit', 'I', { rows: 0 });
    if (i % 3 === 0) add(2, 'rollback', 'I', { rows: 0 });
  }
  const completed = [...out].sort((a, b) => a.doneAt - b.doneAt);
  return { upstream: { host: '127.0.0.1', port: 5432 }, serverVersion: '15.0', statements: completed, connections: [] };
}

const promptLog = () =>
  parsePromptLog(Buffer.from('{"turn":"t3","prompt":"hello there"}\n{"turn":"t13","prompt":"again"}\n{"turn":"nope","prompt":"x"}\n'), 'p.ndjson');

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const c of chunks) out += c;
  return out;
}

/** The same recording, its statements in a StatementLog and its units' details in a spill. */
async function streamed(recording: ProxyRecording, options: Parameters<typeof recordingReport>[1], statements = true) {
  const log = StatementLog.create();
  const spill = TurnDetailSpill.create(1, { statements });
  // Handed over in batches, as the proxy does.
  for (let i = 0; i < recording.statements.length; i += 7) log.add(recording.statements.slice(i, i + 7));
  const handed: RecordedTurn[] = [];
  const report = await recordingReport(
    { ...recording, statements: log },
    {
      ...options,
      onTurnDetail: (d) => {
        handed.push(d);
        spill.add(0, d);
      },
    },
  );
  log.dispose();
  return { report, spill, handed };
}

describe('a recording folded one unit at a time', () => {
  for (const markers of [false, true]) {
    it(`gives the in-memory report's JSON, table and markdown byte for byte (${markers ? 'markers' : 'transactions'})`, async () => {
      const recording = fixture(markers);
      const options = { showContent: true, promptLog: promptLog(), name: 'rec' };
      const memory = await recordingReport(recording, options);
      expect(memory.recording.units).toBe(markers ? 'markers' : 'transactions');
      for (const level of DETAIL_LEVELS) {
        const { report, spill } = await streamed(recording, options, level === 'all');
        try {
          expect(await text(renderJsonChunks(report, () => spill.read(0), { details: level }))).toBe(renderJson(memory, { details: level }));
          expect(renderTable(report, { color: false })).toBe(renderTable(memory, { color: false }));
          expect(renderMarkdown(report)).toBe(renderMarkdown(memory));
        } finally {
          spill.dispose();
        }
      }
      // What the table reads is all there: failures beyond those listed, prompt rows.
      const table = renderTable(memory, { color: false });
      expect(table).toContain('4 more (--format json lists them all)');
      expect(table).toContain(markers ? 'prompt tokens' : 'failed statements');
    });
  }

  it('keeps in memory only the units the table reads, each with only its failed statements', async () => {
    const { report, spill, handed } = await streamed(fixture(false), { showContent: true });
    spill.dispose();
    const kept = report.strategies[0]!.turnDetails;
    expect(report.strategies[0]!.turns).toBe(handed.length);
    expect(kept.length).toBeLessThan(handed.length);
    expect(kept.every((t) => t.statements.length > 0)).toBe(true);
    expect(kept.flatMap((t) => t.statements).every((s) => s.error !== null)).toBe(true);
    expect(kept.flatMap((t) => t.statements)).toHaveLength(14);
  });

  it('hides literals the same way (one key per report): only the hashes differ', async () => {
    const recording = fixture(false);
    const memory = renderJson(await recordingReport(recording, {}));
    const { report, spill } = await streamed(recording, {});
    try {
      const folded = await text(renderJsonChunks(report, () => spill.read(0)));
      const unkeyed = (s: string) => s.replace(/<lit:[0-9a-f]{12}>/g, '<lit>');
      expect(folded).not.toBe(memory);
      expect(unkeyed(folded)).toBe(unkeyed(memory));
      expect(folded).not.toContain("'v7'");
    } finally {
      spill.dispose();
    }
  });

  it('with a budget keeps every unit whole (its violations name statements of any unit) and still hands each over', async () => {
    const { budgetFromLimits } = await import('../../src/core/budget.js');
    const recording = fixture(false);
    const budget = budgetFromLimits({ queries: 3 });
    const memory = await recordingReport(recording, { showContent: true, budget });
    const { report, spill, handed } = await streamed(recording, { showContent: true, budget });
    spill.dispose();
    expect(renderJson(report)).toBe(renderJson(memory));
    expect(handed).toHaveLength(memory.strategies[0]!.turns);
    expect(report.budget!.passed).toBe(false);
  });
});

describe('RecordSpill', () => {
  it('reads back every record by index, in any order, across read blocks and multi-byte text', () => {
    const spill = RecordSpill.create<{ i: number; text: string }>();
    try {
      const n = 3000;
      // About 2.5 MB: several read blocks.
      for (let i = 0; i < n; i++) expect(spill.add({ i, text: `héllo ✓ ${'x'.repeat(i % 1700)}` })).toBe(i);
      expect(spill.size).toBe(n);
      for (const i of [n - 1, 0, 1500, 1499, 2999, 7, 2000, 1]) expect(spill.get(i)).toEqual({ i, text: `héllo ✓ ${'x'.repeat(i % 1700)}` });
      // Added after reads: still found (the pending bytes are flushed first).
      spill.add({ i: n, text: 'last' });
      expect(spill.get(n)).toEqual({ i: n, text: 'last' });
      expect(() => spill.get(n + 1)).toThrow(RangeError);
    } finally {
      spill.dispose();
    }
  });

  it('leaves nothing in the temporary directory once disposed, nor does a StatementLog', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-spill-'));
    try {
      const spill = RecordSpill.create<number>({ dir: tmp });
      const log = StatementLog.create({ dir: tmp });
      spill.add(1);
      log.add(fixture(false).statements.slice(0, 3));
      expect(readdirSync(tmp)).toHaveLength(2);
      spill.dispose();
      log.dispose();
      expect(readdirSync(tmp)).toEqual([]);
      // A closing proxy may hand over more after: ignored.
      log.add(fixture(false).statements.slice(0, 3));
      expect(log.count).toBe(3);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('the proxy with onStatements', () => {
  it('hands every statement over in batches, parameter values hashed, and keeps none for recording()', async () => {
    const backend = await emptyBackend('pglite');
    const batches: ProxiedStatement[][] = [];
    const { host, port } = upstreamOf(backend.url);
    const proxy = await startWireProxy({ upstreamHost: host, upstreamPort: port, onStatements: (b) => batches.push(b) });
    try {
      const client = new pg.Client({ connectionString: proxiedUrl(backend.url, proxy.port) });
      await client.connect();
      // More than a batch (1000): some are handed over while the client runs.
      for (let i = 0; i < 1100; i++) await client.query('select $1::text as v', [`secret-${i % 10}`]);
      await client.end();
      const handedDuring = batches.flat().length;
      const recording = proxy.recording();
      expect(recording.statements).toEqual([]);
      expect(recording.connections[0]!.statements).toBe(1100);
      const all = batches.flat();
      expect(handedDuring).toBeGreaterThan(0);
      expect(all).toHaveLength(1100);
      expect(JSON.stringify(all)).not.toContain('secret-');
      expect(all[0]!.params[0]).toMatch(/^<param:[0-9a-f]{12}>$/);
      expect(all[0]!.params[0]).toBe(all[10]!.params[0]);
      expect(proxy.recording().statements).toEqual([]);
    } finally {
      await proxy.close();
      await backend.close();
    }
  });
});

describeIf(hasPsql, 'needs psql on PATH (apt install postgresql-client)').each(backendKinds)('record --details (%s)', (kind) => {
  it('all, summary and none: the same report, with every statement, without them, without turnDetails', async () => {
    const backend = await emptyBackend(kind);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-record-details-'));
    try {
      const program = `psql -X -q -c "select 1" -c "select 2" -c "select nope" >/dev/null 2>&1; exit 0`;
      const reports: Record<string, { strategies: { totals: unknown; turnDetails?: { statements?: { sql: string }[] }[] }[] }> = {};
      for (const level of ['all', 'summary', 'none']) {
        const output = path.join(dir, `${level}.json`);
        const r = await runInProcess(
          ['record', '--show-content', '--upstream', backend.url, '--details', level, '--format', 'json', '--output', output, '--', 'sh', '-c', program],
          { ...process.env, NO_COLOR: '1' },
        );
        expect(r.code).toBe(0);
        const written = await readFile(output, 'utf8');
        // stdout holds the program's output (none) and then the same report.
        expect(r.stdout).toBe(written);
        reports[level] = JSON.parse(written);
      }
      const [all, summary, none] = [reports.all!, reports.summary!, reports.none!].map((r) => r.strategies[0]!);
      expect(all.turnDetails!.flatMap((t) => t.statements!.map((s) => s.sql))).toEqual(['select 1', 'select 2', 'select nope']);
      expect(summary.turnDetails).toHaveLength(3);
      expect(summary.turnDetails!.every((t) => t.statements === undefined)).toBe(true);
      expect(none.turnDetails).toBeUndefined();
      // Three runs of the program: the same statements (a first error on a fresh server may differ in bytes).
      const counts = (t: unknown) => ({ queries: (t as { queries: number }).queries, rows: (t as { rows: number }).rows });
      expect([summary.totals, none.totals].map(counts)).toEqual([counts(all.totals), counts(all.totals)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await backend.close();
    }
  });
});

it('record and proxy reject an unknown --details level with exit 2 naming it', async () => {
  for (const command of [['record'], ['proxy']]) {
    const r = await runInProcess([...command, '--upstream', 'postgres://u@127.0.0.1:1/db', '--details', 'some', ...(command[0] === 'record' ? ['--', 'true'] : [])], { NO_COLOR: '1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--details: expected one of all, summary, none, got "some"');
  }
});
