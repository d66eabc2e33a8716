/**
 * The built-in strategies, by name.
 */
import type { Strategy } from '../types.js';
import { batchedStrategy } from './batched-strategy.js';
import { naiveStrategy } from './naive-strategy.js';
import { optimizedStrategy } from './optimized-strategy.js';

/**
 * Built-in strategies in their canonical order.
 *
 * @example
 * builtInStrategies.map((s) => s.name) // ['naive', 'optimized', 'batched']
 */
export const builtInStrategies: readonly Strategy[] = [naiveStrategy, optimizedStrategy, batchedStrategy];

/** Default `--strategies`. */
export const DEFAULT_STRATEGIES = ['naive', 'optimized'] as const;
