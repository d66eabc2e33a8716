// A strategy whose prompt is a fixed text, so its token count is known exactly.
export default {
  name: 'fixed',
  async build(db) {
    await db.query('select 1');
    return 'سلام، hello world — پیشنهاد';
  },
};
