// A strategy that, from its third build on (turn 2's warm-up with --repeat 1), awaits a promise
// that never settles, after saying so on stderr: the time limit and Ctrl-C must still end the run.
let builds = 0;
export default {
  name: 'hangs',
  async build(db: { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }> }, turn: { messageId: string }) {
    builds += 1;
    const { rows } = await db.query('select content from messages where id = $1', [turn.messageId]);
    if (builds >= 3) {
      process.stderr.write('hangs: waiting forever\n');
      await new Promise(() => undefined);
    }
    return JSON.stringify(rows);
  },
};
