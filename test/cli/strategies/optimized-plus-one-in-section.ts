// The built-in optimized strategy with one more query per turn inside its `system` section,
// under the same name: the baseline gate names the section the added statement was sent in.
import { optimizedStrategy } from '../../../src/core/strategies/optimized-strategy.js';

export default {
  name: 'optimized',
  async build(db: Parameters<typeof optimizedStrategy.build>[0], turn: Parameters<typeof optimizedStrategy.build>[1]) {
    const context = await optimizedStrategy.build(db, turn);
    await db.section('system', () => db.query('select business_name from users where id = $1', [turn.tenantId]));
    return context;
  },
};
