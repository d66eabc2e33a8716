// The built-in optimized strategy with one more query per turn, under the same name: what a
// pull request that slips in an extra lookup looks like to the baseline gate.
import { optimizedStrategy } from '../../../src/core/strategies/optimized-strategy.js';

export default {
  name: 'optimized',
  async build(db: Parameters<typeof optimizedStrategy.build>[0], turn: Parameters<typeof optimizedStrategy.build>[1]) {
    const context = await optimizedStrategy.build(db, turn);
    await db.query('select business_name from users where id = $1', [turn.tenantId]);
    return context;
  },
};
