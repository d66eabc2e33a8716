import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryBudget } from '../../src/vitest.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

/** `test/vitest/query-budget.test.ts:N`, N the line of this file that holds `text`: a call site the matcher must name. */
function siteOf(text: string): string {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const index = lines.findIndex((l) => l.includes(text));
  if (index < 0) throw new Error(`no line holds ${text}`);
  return `test/vitest/query-budget.test.ts:${index + 1}`;
}

/** The assertion's error, or null when it passed. */
async function failureOf(assertion: Promise<void>): Promise<Error | null> {
  return assertion.then(
    () => null,
    (error: Error) => error,
  );
}

describe.each(backendKinds)('toStayWithinQueryBudget on %s', (kind) => {
  let backend: TestBackend;
  let pool: pg.Pool;

  /** One unrelated statement, then an N+1 loop of four. */
  const nPlusOne = async (): Promise<void> => {
    await pool.query(`select 'unrelated' as label`);
    for (const id of [1, 2, 3, 4]) await pool.query('select $1::int as id', [id]);
  };

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    // One connection: the embedded server accepts only one.
    pool = new pg.Pool({ connectionString: backend.url, max: 1 });
    // use() returns the undo, which Vitest runs as this hook's teardown.
    return queryBudget.use(pool);
  });

  afterAll(async () => {
    await pool?.end();
    await backend?.close();
  });

  it('passes within budget, on the default client', async () => {
    await expect(() => pool.query('select 1')).toStayWithinQueryBudget({ queries: 1, roundTrips: 1, rows: 1 });
    await expect(nPlusOne).toStayWithinQueryBudget({ queries: 5, rows: 5, bytes: 10_000, payloadBytes: 100 });
  });

  it('fails over budget, listing the exceeded budgets, then the N+1 group, then the other statements', async () => {
    const error = await failureOf(expect(nPlusOne).toStayWithinQueryBudget({ queries: 2, roundTrips: 10, rows: 1 }));
    expect(error).not.toBeNull();
    const message = error!.message;
    expect(message).toMatch(/queries: 5 > budget 2/);
    expect(message).toMatch(/rows: 5 > budget 1/);
    expect(message).toMatch(/\(within: roundTrips 5 ≤ 10\)/);
    expect(message).toMatch(/statements \(5 queries, 5 round trips, [\d,]+ bytes, 13 payload bytes, 5 rows\):/);
    const group = message.indexOf('  4× select $1::int as id (N+1: ');
    // The group names the loop's line; the unrelated statement its own.
    expect(message).toMatch(/ {2}4× select \$1::int as id \(N\+1: [\d,]+ bytes, 4 rows\) at (\S+)\n/);
    expect(message).toContain(`rows) at ${siteOf("for (const id of [1, 2, 3, 4]) await pool.query('select $1::int as id', [id]);")}\n`);
    expect(message).toContain(`row) at ${siteOf("await pool.query(`select 'unrelated' as label`);")}`);
    const unrelated = message.indexOf(`  #1 select 'unrelated' as label (`);
    expect(group).toBeGreaterThan(0);
    expect(unrelated).toBeGreaterThan(group);
    // The loop's statements appear once, in the group, not again one by one.
    expect(message).not.toMatch(/#[2-5] select \$1::int/);
    await expect(expect(nPlusOne).toStayWithinQueryBudget({ queries: 2 })).rejects.toThrow(/queries: 5 > budget 2/);
  });

  it('shows each statement with its bytes and rows, single-lined, truncated and capped', async () => {
    const long = `select\n  ${Array.from({ length: 40 }, (_, i) => `${i} as column_${i}`).join(',\n  ')}`;
    const many = async (): Promise<void> => {
      await pool.query(long);
      // 34 statements with 34 different fingerprints: no N+1 group, just a long list.
      for (let i = 0; i < 34; i++) await pool.query(`select ${i} as n_${i}`);
    };
    const message = (await failureOf(expect(many).toStayWithinQueryBudget({ queries: 1 })))!.message;
    const lines = message.split('\n');
    const first = lines.find((l) => l.startsWith('  #1 '))!;
    // Each statement names the line of this file that sent it.
    const longAt = ` at ${siteOf('await pool.query(long);')}`;
    const loopAt = ` at ${siteOf('await pool.query(`select ${i} as n_${i}`)')}`;
    expect(first).toMatch(/^ {2}#1 select 0 as column_0, 1 as column_1, .*… \([\d,]+ bytes, 1 row\) at /);
    expect(first.endsWith(longAt)).toBe(true);
    expect(first.length).toBeLessThan(170 + longAt.length);
    expect(lines.filter((l) => /^ {2}#\d+ /.test(l))).toHaveLength(30);
    expect(message).toMatch(/\n {2}#30 select 28 as n_28 \([\d,]+ bytes, 1 row\) at [^\n]+\n {2}… 5 more$/);
    expect(message).toContain(`#30 select 28 as n_28 (`);
    expect(lines.find((l) => l.startsWith('  #30 '))!.endsWith(loopAt)).toBe(true);
  });

  it('with .not, passes over budget and fails within it', async () => {
    await expect(nPlusOne).not.toStayWithinQueryBudget({ queries: 2 });
    const error = await failureOf(expect(() => pool.query('select 1')).not.toStayWithinQueryBudget({ queries: 5, rows: 3 }));
    expect(error!.message).toMatch(
      /expected the function to exceed its query budget, but it stayed within it:\n {2}queries: 1 ≤ budget 5\n {2}rows: 1 ≤ budget 3/,
    );
  });

  it('fails clearly when the received value is not a function returning a promise, even with .not', async () => {
    await expect(expect(42).toStayWithinQueryBudget({ queries: 1 })).rejects.toThrow(
      /the received value must be a function returning a promise, e\.g\. expect\(\(\) => buildContext\(db\)\); got number 42/,
    );
    await expect(expect(42).not.toStayWithinQueryBudget({ queries: 1 })).rejects.toThrow(
      /must be a function returning a promise/,
    );
    const started = pool.query('select 1');
    await expect(expect(started).toStayWithinQueryBudget({ queries: 1 })).rejects.toThrow(
      /received a promise, which has already started its queries/,
    );
    await started;
    await expect(expect(() => 42).toStayWithinQueryBudget({ queries: 1 })).rejects.toThrow(
      /the received function must return a promise, but it returned number 42/,
    );
  });

  it('rejects a missing, unknown or malformed budget, naming every problem', async () => {
    const fn = () => pool.query('select 1');
    await expect(expect(fn).toStayWithinQueryBudget({})).rejects.toThrow(
      /give at least one budget \(queries, roundTrips, bytes, payloadBytes, rows\)/,
    );
    await expect(
      // @ts-expect-error: the budget names are checked at compile time too
      expect(fn).toStayWithinQueryBudget({ query: 5, bytes: -1 }),
    ).rejects.toThrow(
      /unknown budget "query" \(budgets: queries, roundTrips, bytes, payloadBytes, rows\); budget "bytes" must be a finite number ≥ 0, got -1/,
    );
  });

  it('reports what the function threw, with the statements it sent before', async () => {
    const failing = async (): Promise<void> => {
      await pool.query('select 1');
      await pool.query('select * from no_such_table');
    };
    const error = (await failureOf(expect(failing).not.toStayWithinQueryBudget({ queries: 1 })))!;
    expect(error.message).toMatch(
      /the function threw, so its budget could not be checked: relation "no_such_table" does not exist/,
    );
    expect(error.message).toMatch(
      /#2 select \* from no_such_table \([\d,]+ bytes, 0 rows, error: relation "no_such_table" does not exist \(SQLSTATE 42P01\)\)/,
    );
    expect((error.cause as Error).message).toMatch(/no_such_table/);
  });

  describe('with a client named per call', () => {
    // A database of its own: the shared pool holds the embedded server's one connection.
    let own: TestBackend;
    let knex: Knex;

    beforeAll(async () => {
      own = await emptyBackend(kind);
      knex = knexFactory({ client: 'pg', connection: own.url, pool: { min: 0, max: 1 } });
    });

    afterAll(async () => {
      await knex?.destroy();
      await own?.close();
    });

    it('measures the given knex instance instead of the default', async () => {
      const build = async (): Promise<void> => {
        for (const id of [1, 2, 3]) await knex.select(knex.raw('?::int as id', [id]));
      };
      await expect(build).toStayWithinQueryBudget({ queries: 3, roundTrips: 3, rows: 3, client: knex });
      await expect(expect(build).toStayWithinQueryBudget({ queries: 1, client: knex })).rejects.toThrow(
        /queries: 3 > budget 1[\s\S]*\n {2}3× select \$1::int as id \(N\+1: [\d,]+ bytes, 3 rows\)/,
      );
    });

    it('without a default, asks for one', async () => {
      const restore = queryBudget.use(knex);
      queryBudget.reset();
      try {
        await expect(expect(() => knex.raw('select 1')).toStayWithinQueryBudget({ queries: 1 })).rejects.toThrow(
          /no client to measure: call queryBudget\.use\(poolOrClientOrKnex\) or pass \{ client \}/,
        );
      } finally {
        restore();
      }
    });
  });
});
