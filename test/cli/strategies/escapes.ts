// A strategy that ends the READ ONLY transaction and opens a writable one to create a table:
// ctxbench must refuse to send it and report the strategy as having tried to write.
export default {
  name: 'escapes',
  async build(db: { query(sql: string): Promise<unknown> }) {
    await db.query('commit; begin; set transaction read write');
    await db.query('create table ctxbench_escaped (id int)');
    return '';
  },
};
