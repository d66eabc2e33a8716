// A user strategy whose SQL is wrong: the run must name this file, the turn and the SQL.
export default {
  name: 'throws',
  async build(db: { query(sql: string, params?: unknown[]): Promise<unknown> }, turn: { messageId: string }) {
    await db.query('select no_such_column from messages where id = $1', [turn.messageId]);
    return '';
  },
};
