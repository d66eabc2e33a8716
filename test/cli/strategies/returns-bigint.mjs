// Returns a BigInt inside its object: JSON has none.
export default {
  name: 'bigint',
  async build(db, turn) {
    const { rows } = await db.query('select $1::int * 2 as doubled', [turn.n]);
    return { id: turn.id, counts: { 'big one': BigInt(rows[0].doubled) } };
  },
};
