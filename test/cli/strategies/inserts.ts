// A strategy that tries to write: the server must refuse it, and nothing may change.
export default {
  name: 'inserts',
  async build(db: { query(sql: string, params?: unknown[]): Promise<unknown> }) {
    await db.query(`insert into users (id, email, business_name, first_name, last_name, created_at) values (999999, 'x@y', 'x', 'x', 'x', now())`);
    return '';
  },
};
