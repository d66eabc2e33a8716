// Returns an object that refers to itself: it cannot be compared as JSON.
export default {
  name: 'circular',
  async build(db, turn) {
    const { rows } = await db.query('select $1::int * 2 as doubled', [turn.n]);
    const value = { id: turn.id, doubled: rows[0].doubled, nested: { list: [] } };
    value.nested.list.push(value);
    return value;
  },
};
