// Throws from a timer callback while its query is in flight: an uncaught exception during the turn.
export default {
  name: 'timer',
  async build(db, turn) {
    setTimeout(() => {
      throw new Error('thrown in a timer');
    }, 0);
    const { rows } = await db.query('select $1::int * 2 as doubled, pg_sleep(0.05)', [turn.n]);
    return { id: turn.id, doubled: rows[0].doubled };
  },
};
