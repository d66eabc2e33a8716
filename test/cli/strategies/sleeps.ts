// A strategy whose second turn runs a statement that takes ten minutes (after saying so on
// stderr): Ctrl-C must cancel it at once, not wait for the server's statement timeout.
let builds = 0;
export default {
  name: 'sleeps',
  async build(db: { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }> }, turn: { messageId: string }) {
    builds += 1;
    if (builds >= 3) {
      process.stderr.write('sleeps: sleeping\n');
      await db.query('select pg_sleep(600)');
    }
    const { rows } = await db.query('select content from messages where id = $1', [turn.messageId]);
    return JSON.stringify(rows);
  },
};
