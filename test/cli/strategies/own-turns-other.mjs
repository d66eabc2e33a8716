// Same answer as own-turns.mjs through a different query, except for turn "t3".
export default {
  name: 'other',
  async build(db, turn) {
    const { rows } = await db.query('select $1::int + $1::int as doubled', [turn.n]);
    return { doubled: turn.id === 't3' ? -1 : rows[0].doubled, id: turn.id };
  },
};
