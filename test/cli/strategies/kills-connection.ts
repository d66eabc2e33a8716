// A strategy whose connection dies under it (the server terminates its backend): ctxbench must
// report a lost connection (exit 3) naming the turn, not blame the strategy.
export default {
  name: 'kills',
  async build(db: { query(sql: string): Promise<unknown> }) {
    await db.query('select pg_terminate_backend(pg_backend_pid())');
    return '';
  },
};
