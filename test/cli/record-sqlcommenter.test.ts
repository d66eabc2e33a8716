/**
 * sqlcommenter tags of recorded programs in other languages: `ctxbench record` reads the
 * comments real clients send — psql on both backends, and the Django example's stand-in for
 * Google's sqlcommenter on a seeded server — puts them on the statements, groups the findings by
 * them, and keeps them out of the fingerprints. Skipped, saying why, without psql, without a
 * Python that imports django and psycopg2, or (Django) without a real server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/report/model.js';
import type { StatementRecord } from '../../src/core/types.js';
import { backendKinds, emptyBackend, seededBackend, type TestBackend } from '../support/backends.js';
import { runInProcess as run } from '../support/cli.js';
import { describeIf, testServerUrl } from '../support/skip.js';

function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasPsql = works('psql', ['--version']);
/** The first Python that imports django and psycopg2 (Debian's when python3 on PATH is another). */
const python = [process.env.CTXBENCH_PYTHON, 'python3', '/usr/bin/python3']
  .filter((p): p is string => !!p)
  .find((p) => works(p, ['-c', 'import django, psycopg2']));

interface RecordedReport {
  strategies: { findings: Finding[]; turnDetails: { turn: string; statements: StatementRecord[] }[] }[];
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-sqlcommenter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function record(
  name: string,
  command: string[],
  url: string,
  extra: string[] = [],
): Promise<{ code: number; stdout: string; report: RecordedReport }> {
  const output = path.join(dir, `${name}.json`);
  const r = await run(['record', '--upstream', url, '--output', output, ...extra, '--', ...command], {
    ...process.env,
    NO_COLOR: '1',
  });
  return { code: r.code, stdout: r.stdout, report: JSON.parse(await readFile(output, 'utf8')) as RecordedReport };
}

/**
 * Two turns of psql statements, each an N+1 loop tagged as a web framework would tag it: the
 * orders page (with a trace context that differs per statement) and the customers page.
 */
const PSQL_PROGRAM = [
  `psql -X -q -c "SELECT 'ctxbench:turn orders'"`,
  ...[1, 2, 3].map(
    (id) =>
      `-c "select ${id} as id, 'order' as kind /*controller='orders',framework='django%3A4.2',route='%2Forders%2F',traceparent='00-${id}-01'*/"`,
  ),
  `>/dev/null && psql -X -q -c "SELECT 'ctxbench:turn customers'"`,
  ...[4, 5].map((id) => `-c "select ${id} as id, 'order' as kind /*controller='customers',route='%2Fcustomers%2F'*/"`),
  `-c "select 6 as id, 'order' as kind"`,
  '>/dev/null',
].join(' ');

describeIf(hasPsql, 'needs psql on PATH (apt install postgresql-client)').each(backendKinds)(
  'record: sqlcommenter tags from psql (%s)',
  (kind) => {
    let backend: TestBackend;
    beforeAll(async () => {
      backend = await emptyBackend(kind);
    });
    afterAll(async () => {
      await backend?.close();
    });

    it('puts the tags on the statements, groups the N+1 by them, and keeps them out of the fingerprint', async () => {
      const { code, stdout, report } = await record(`psql-${kind}`, ['sh', '-c', PSQL_PROGRAM], backend.url, ['--show-content']);
      expect(code).toBe(0);
      const [orders, customers] = report.strategies[0]!.turnDetails;
      expect([orders!.turn, customers!.turn]).toEqual(['orders', 'customers']);
      expect(orders!.statements.map((s) => s.tags)).toEqual(
        [1, 2, 3].map((id) => ({ controller: 'orders', framework: 'django:4.2', route: '/orders/', traceparent: `00-${id}-01` })),
      );
      expect(customers!.statements.map((s) => s.tags)).toEqual([
        { controller: 'customers', route: '/customers/' },
        { controller: 'customers', route: '/customers/' },
        undefined,
      ]);
      // One shape whatever the comment: tagged and untagged statements share their fingerprint.
      const fingerprints = new Set([...orders!.statements, ...customers!.statements].map((s) => s.fingerprint));
      expect([...fingerprints]).toEqual(['select $1 as id, $2 as kind']);
      expect(orders!.statements.every((s) => s.callSite === null)).toBe(true);

      const nPlusOne = report.strategies[0]!.findings.filter((f) => f.kind === 'n-plus-one');
      expect(nPlusOne).toHaveLength(1);
      expect(nPlusOne[0]).toMatchObject({ statements: 6, turns: 2, maxPerTurn: 3 });
      // Per-request (traceparent) and stack (framework) tags are not where the code is.
      expect(nPlusOne[0]!.tags).toEqual([
        { controller: 'orders', route: '/orders/' },
        { controller: 'customers', route: '/customers/' },
      ]);
      expect(stdout).toContain('      in controller=orders route=/orders/; controller=customers route=/customers/\n');
    });

    it('keeps the comments (they name code, not data) when literals are hidden', async () => {
      const { code, report } = await record(`psql-hidden-${kind}`, ['sh', '-c', PSQL_PROGRAM], backend.url);
      expect(code).toBe(0);
      const [first] = report.strategies[0]!.turnDetails[0]!.statements;
      expect(first!.sql).toMatch(/^select '<lit:[0-9a-f]{12}>' as id, '<lit:[0-9a-f]{12}>' as kind \/\*controller='orders',/);
      expect(first!.tags).toMatchObject({ controller: 'orders', route: '/orders/' });
    });
  },
);

describeIf(
  python !== undefined && testServerUrl !== undefined,
  python === undefined
    ? 'needs a python3 that imports django and psycopg2 (apt install python3-django python3-psycopg2, or set CTXBENCH_PYTHON)'
    : 'needs a real PostgreSQL for the Django example: set CTXBENCH_TEST_DATABASE_URL',
)('record: sqlcommenter tags from the Django example', () => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = await seededBackend('postgres', 'tiny');
  });
  afterAll(async () => {
    await backend?.close();
  });

  const buildContexts = (...extra: string[]) => [
    python!,
    'examples/django/manage.py',
    'build_contexts',
    '--version',
    'before',
    '--conversation',
    'de-care-1',
    ...extra,
  ];

  it('groups the findings by the section tag, with the fingerprints and figures of the untagged run', async () => {
    const tagged = await record('django-tagged', buildContexts('--sqlcommenter'), backend.url);
    const plain = await record('django-plain', buildContexts(), backend.url);
    expect(tagged.code).toBe(0);
    expect(plain.code).toBe(0);
    const turns = (r: RecordedReport) => r.strategies[0]!.turnDetails.filter((t) => t.turn !== '(before first marker)');
    // The turn's statements are tagged; what ctxbench sends to mark the turn is not.
    for (const t of turns(tagged.report)) {
      expect(t.statements.length).toBeGreaterThan(0);
      for (const s of t.statements)
        expect(s.tags).toMatchObject({
          controller: 'build_contexts',
          app_name: 'support',
          db_driver: 'django.db.backends.postgresql',
        });
    }
    const shapes = (r: RecordedReport) => turns(r).map((t) => t.statements.map((s) => s.fingerprint));
    expect(shapes(tagged.report)).toEqual(shapes(plain.report));
    const figures = (r: RecordedReport) => turns(r).map((t) => t.statements.map((s) => [s.rows, s.wireBytes, s.payloadBytes]));
    expect(figures(tagged.report)).toEqual(figures(plain.report));

    const findings = tagged.report.strategies[0]!.findings;
    const websites = findings.find((f) => f.kind === 'n-plus-one' && f.fingerprint.includes('FROM "website_sources"'));
    expect(websites!.tags).toEqual([{ action: 'websites_and_pages', app_name: 'support', controller: 'build_contexts' }]);
    const customers = findings.find((f) => f.kind === 'duplicate' && f.fingerprint.includes('FROM "customers"'));
    expect(customers!.tags!.map((t) => t.action)).toEqual(['turn', 'history']);
    // Without tags, the same findings, without groups.
    const untagged = plain.report.strategies[0]!.findings;
    expect(untagged.map((f) => [f.kind, f.fingerprint, f.statements])).toEqual(
      findings.map((f) => [f.kind, f.fingerprint, f.statements]),
    );
    expect(untagged.every((f) => f.tags === undefined)).toBe(true);
  });
});
