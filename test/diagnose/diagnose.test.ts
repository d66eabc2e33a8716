/**
 * diagnose against a real PostgreSQL, as the engineer in a hurry runs it: a SELECT-only role,
 * no content in the output, writes refused, every failure one line with its exit code.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import knexFactory from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedServer } from '../../src/db/dataset.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import { resolveScale } from '../../src/db/seed/scales.js';
import { createServerDatabase, type TestBackend } from '../support/backends.js';
import { interruptAt, repoRoot as root, spawnCtxbench as ctxbench } from '../support/cli.js';
import { describeIf, NEEDS_SERVER, testServerUrl } from '../support/skip.js';



describeIf(testServerUrl, NEEDS_SERVER)('diagnose on a real PostgreSQL', () => {
  let db: TestBackend;
  let admin: pg.Client;
  const role = `ctxbench_ro_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  let roUrl: string;
  let fixtureText: string;

  const rowCounts = async () =>
    (await admin.query(`select (select count(*) from users)::int as users, (select count(*) from messages)::int as messages`)).rows[0];

  beforeAll(async () => {
    db = await createServerDatabase();
    const knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 1 } });
    const fixtures = await loadFixtures();
    try {
      await seedServer(knex, { scale: resolveScale('tiny'), seed: 1, fixtures });
    } finally {
      await knex.destroy();
    }
    fixtureText = fixtures.find((f) => f.id === 'en-first-1')!.messages.find((m) => m.type === 'customer')!.content;
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const database = new URL(db.url).pathname.slice(1);
    await admin.query(`create role ${role} login password '${password}'`);
    await admin.query(`grant connect on database ${database} to ${role}`);
    await admin.query(`grant usage on schema public to ${role}`);
    await admin.query(`grant select on all tables in schema public to ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    roUrl = url.toString();
  });

  afterAll(async () => {
    await admin?.end();
    await db?.close();
    const c = new pg.Client({ connectionString: process.env.CTXBENCH_TEST_DATABASE_URL });
    await c.connect();
    await c.query(`drop role if exists ${role}`);
    await c.end();
  });

  it('a SELECT-only role runs diagnose: the comparison, no content, a plan per fingerprint', async () => {
    const r = await ctxbench(['diagnose', '--db', roUrl, '--conversation', 'en-first-1', '--explain', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.database).toMatchObject({ kind: 'postgres' });
    expect(d.database.url).toContain(':***@');
    expect(d.strategies.map((s: { name: string }) => s.name)).toEqual(['naive', 'optimized', 'batched']);
    expect(d.contextIdentical).toBe(true);
    expect(d.diagnosis.redacted).toBe(true);
    const statements = d.strategies.flatMap((s: { turnDetails: { statements: { params: (string | null)[]; fingerprint: string; sql: string }[] }[] }) =>
      s.turnDetails.flatMap((t) => t.statements),
    );
    expect(statements.every((s: { params: (string | null)[] }) => s.params.every((p) => p === null || p === '<redacted>'))).toBe(true);
    expect(r.stdout).not.toContain(fixtureText);
    expect(r.stdout).not.toContain(password);
    const fingerprints = new Set(statements.map((s: { fingerprint: string }) => s.fingerprint));
    expect(d.diagnosis.explain.results.map((x: { fingerprint: string }) => x.fingerprint).sort()).toEqual([...fingerprints].sort());
    expect(d.diagnosis.explain.results.every((x: { planRoot: unknown; error?: string }) => x.planRoot !== null && x.error === undefined)).toBe(true);
    expect(d.diagnosis.settings.default_transaction_read_only).toBe('on');

    const text = await ctxbench(['diagnose', '--db', roUrl, '--conversation', 'en-first-1', '--turns', 'last:1', '--explain']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('EXPLAIN');
    expect(text.stdout).toContain('--show-content shows them');
    expect(text.stdout).not.toContain(fixtureText);
  });

  it('a strategy that INSERTs is refused by the server and nothing is written', async () => {
    const before = await rowCounts();
    // Even as the owner, not only as the read-only role: profiling never writes.
    const r = await ctxbench(['diagnose', '--db', db.url, '--conversation', 'en-first-1', '--strategies', 'naive,test/cli/strategies/inserts.ts']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ctxbench: strategy "inserts" \(test\/cli\/strategies\/inserts\.ts\) tried to write on turn en-first-1\/\w+ and the server refused it/);
    expect(await rowCounts()).toEqual(before);
  });

  it('wrong password and unreachable port: exit 3, one line, the password never shown', async () => {
    // This machine's server trusts loopback connections, so a server that asks for a password
    // and refuses it is played by a few lines of the wire protocol.
    const server = net.createServer((socket) => {
      let startup = true;
      socket.on('data', (chunk) => {
        if (startup) {
          startup = false;
          // AuthenticationCleartextPassword
          socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
          return;
        }
        const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed for user "app"\0\0');
        const head = Buffer.alloc(5);
        head.write('E', 0);
        head.writeInt32BE(fields.length + 4, 1);
        socket.end(Buffer.concat([head, fields]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const bad = await ctxbench(['diagnose', '--db', `postgres://app:not-the-password-xyz@127.0.0.1:${port}/app`, '--conversation', 'en-first-1']);
      expect(bad.code).toBe(3);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toContain(`cannot connect to postgres://app:***@127.0.0.1:${port}/app: authentication failed`);
      expect(bad.stdout + bad.stderr).not.toContain('not-the-password-xyz');
    } finally {
      server.close();
    }

    const closed = new URL(roUrl);
    closed.port = '1';
    const refused = await ctxbench(['diagnose', '--db', closed.toString(), '--conversation', 'en-first-1']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^ctxbench: cannot connect to postgres:\/\/ctxbench_ro_\w+:\*\*\*@127\.0\.0\.1:1\/\w+: connection refused/);
    expect(refused.stdout + refused.stderr).not.toContain(password);
  });

  it('a connection lost mid-run is exit 3 naming the turn', async () => {
    const r = await ctxbench(['diagnose', '--db', db.url, '--conversation', 'en-first-1', '--strategies', 'naive,test/cli/strategies/kills-connection.ts']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^ctxbench: lost the connection to the database during turn en-first-1\/\w+ \(strategy "kills"/m);
  });

  it('reports every missing table and column before running (exit 2)', async () => {
    await admin.query('alter table faqs rename column keywords to kw');
    await admin.query('alter table products rename column tags to labels');
    try {
      const r = await ctxbench(['diagnose', '--db', roUrl, '--conversation', 'en-first-1']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('schema: table "products" has no column "tags" (needed by naive, optimized, batched)');
      expect(r.stderr).toContain('schema: table "faqs" has no column "keywords" (needed by naive, optimized, batched)');
    } finally {
      await admin.query('alter table faqs rename column kw to keywords');
      await admin.query('alter table products rename column labels to tags');
    }
  });

  it('SIGINT mid-run: exit 130 with what was measured, no connection or transaction left open', async () => {
    // Interrupted on turn 2 of the last strategy (it says so on stderr), not after a guessed delay.
    const r = await interruptAt(
      ['diagnose', '--db', roUrl, '--recent', '5', '--tenant', '1', '--strategies', 'naive,optimized,batched,test/cli/strategies/hangs.ts', '--format', 'json'],
      'hangs: waiting forever',
      'SIGINT',
    );
    expect(r.sent).toBe(true);
    expect(r.stderr).toContain('interrupted');
    expect(r.code).toBe(130);
    const d = JSON.parse(r.stdout);
    expect(d.diagnosis.interrupted).toBe(true);
    expect(d.strategies.map((s: { turns: number }) => s.turns)).toEqual([1, 1, 1, 1]);
    const { rows } = await admin.query(`select count(*)::int as n from pg_stat_activity where usename = $1`, [role]);
    expect(rows[0].n).toBe(0);
  });

  const sessionsOf = async (user: string) =>
    (await admin.query(`select count(*)::int as n from pg_stat_activity where usename = $1`, [user])).rows[0].n as number;

  it('SIGTERM while a statement runs: cancelled at once, rolled back, exit 130 with what was measured', async () => {
    const r = await interruptAt(
      ['diagnose', '--db', roUrl, '--conversation', 'en-first-1', '--strategies', 'test/cli/strategies/sleeps.ts', '--statement-timeout', '5s', '--format', 'json'],
      'sleeps: sleeping',
      'SIGTERM',
    );
    expect(r.sent).toBe(true);
    expect(r.stderr).toContain('ctxbench: terminated: cancelling the statement in flight, rolling back, then printing what was measured');
    expect(r.code).toBe(130);
    const d = JSON.parse(r.stdout);
    expect(d.diagnosis.interrupted).toBe(true);
    expect(d.strategies[0].turns).toBe(1);
    expect(await sessionsOf(role)).toBe(0);
  });

  it('SIGTERM while a strategy awaits forever: exit 130, no transaction left open', async () => {
    const r = await interruptAt(
      ['diagnose', '--db', roUrl, '--conversation', 'en-first-1', '--strategies', 'test/cli/strategies/hangs.ts', '--format', 'json'],
      'hangs: waiting forever',
      'SIGTERM',
    );
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    expect(JSON.parse(r.stdout).strategies[0].turns).toBe(1);
    expect(await sessionsOf(role)).toBe(0);
  });

  it('a strategy that sends COMMIT; BEGIN; SET TRANSACTION READ WRITE is stopped before it can write, even as the owner', async () => {
    const r = await ctxbench(['diagnose', '--db', db.url, '--conversation', 'en-first-1', '--strategies', 'naive,test/cli/strategies/escapes.ts']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^ctxbench: strategy "escapes" \(test\/cli\/strategies\/escapes\.ts\) tried to write by leaving the read-only transaction on turn en-first-1\/\w+: it sent "commit", which ctxbench did not forward$/m,
    );
    const { rows } = await admin.query(`select to_regclass('ctxbench_escaped') is null as absent`);
    expect(rows[0].absent).toBe(true);
  });

  it('a role without SELECT on faqs: "permission denied for table faqs", exit 3 from diagnose and compare alike', async () => {
    const limited = `ctxbench_nofaqs_${randomBytes(4).toString('hex')}`;
    const database = new URL(db.url).pathname.slice(1);
    await admin.query(`create role ${limited} login`);
    try {
      await admin.query(`grant connect on database ${database} to ${limited}`);
      await admin.query(`grant usage on schema public to ${limited}`);
      await admin.query(`grant select on all tables in schema public to ${limited}`);
      await admin.query(`revoke select on faqs from ${limited}`);
      const url = new URL(db.url);
      url.username = limited;
      const line = 'ctxbench: permission denied for table faqs (SQLSTATE 42501): this role may not read it (needed by naive, optimized, batched)';
      const d = await ctxbench(['diagnose', '--db', url.toString(), '--conversation', 'en-first-1']);
      expect(d.code).toBe(3);
      expect(d.stderr.split('\n')[0]).toBe(line);
      expect(d.stderr).not.toContain('missing');
      const c = await ctxbench(['compare', '--db', url.toString(), '--conversation', 'en-first-1', '--strategies', 'naive,optimized,batched']);
      expect(c.code).toBe(3);
      expect(c.stderr.split('\n')[0]).toBe(line);
      // A strategy that declares nothing meets the refusal at run time: exit 3 all the same.
      const own = await ctxbench(['compare', '--db', url.toString(), '--conversation', 'en-first-1', '--strategies', 'test/cli/strategies/reads-faqs.ts']);
      expect(own.code).toBe(3);
      expect(own.stderr).toMatch(
        /^ctxbench: strategy "reads-faqs" \(test\/cli\/strategies\/reads-faqs\.ts\) on turn en-first-1\/\w+: permission denied for table faqs \(SQLSTATE 42501\)$/m,
      );
    } finally {
      await admin.query(`drop owned by ${limited}`);
      await admin.query(`drop role ${limited}`);
    }
  });
});
