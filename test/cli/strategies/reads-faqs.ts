// A strategy that declares nothing it reads, then reads faqs: a role without SELECT on faqs
// must be reported as refused by the database (exit 3), not as a failing strategy.
export default {
  name: 'reads-faqs',
  async build(db: { query(sql: string): Promise<{ rows: unknown[] }> }) {
    const { rows } = await db.query('select count(*)::int as n from faqs');
    return JSON.stringify(rows);
  },
};
