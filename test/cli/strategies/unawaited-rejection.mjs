// Starts a promise it never awaits, which rejects: an unhandled rejection during the turn.
export default {
  name: 'unawaited',
  async build(db, turn) {
    Promise.reject(new Error('x'));
    const { rows } = await db.query('select $1::int * 2 as doubled', [turn.n]);
    return { id: turn.id, doubled: rows[0].doubled };
  },
};
