import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { resolveScale, SCALE_PRESETS } from '../../src/db/seed/scales.js';

describe('resolveScale', () => {
  it('accepts the presets by name', () => {
    expect(resolveScale('tiny')).toBe(SCALE_PRESETS.tiny);
    expect(resolveScale('default')).toBe(SCALE_PRESETS.default);
    expect(resolveScale('large')).toBe(SCALE_PRESETS.large);
    expect(resolveScale(' Large ').name).toBe('large');
  });

  it('accepts multipliers of default, with a canonical name', () => {
    expect(resolveScale('2').name).toBe('x2');
    expect(resolveScale('x2').name).toBe('x2');
    expect(resolveScale('2.0').name).toBe('x2');
    expect(resolveScale('0.5').name).toBe('x0.5');
    expect(resolveScale('.5').name).toBe('x0.5');
    expect(resolveScale('x3').conversationsPerTenant).toBe(SCALE_PRESETS.default.conversationsPerTenant * 3);
    expect(resolveScale('1')).toEqual(SCALE_PRESETS.default);
    expect(resolveScale('x1').name).toBe('default');
  });

  it('keeps the floors that the roster guarantees need', () => {
    const small = resolveScale('0.01');
    expect(small.tenants).toBe(SCALE_PRESETS.default.tenants);
    expect(small.conversationsPerTenant).toBeGreaterThanOrEqual(1);
    expect(small.productsPerTenant).toBeGreaterThanOrEqual(8);
    expect(small.pagesPerSource).toBeGreaterThanOrEqual(8);
    expect(small.faqsPerTenant).toBeGreaterThanOrEqual(12);
  });

  it.each(['', 'huge', '0', 'x0', '-1', 'x', '2x', '1e3', 'NaN', 'Infinity', '101', '0x10', '1,5'])('rejects %j naming --scale', (input) => {
    let error: unknown;
    try {
      resolveScale(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as UsageError).message).toMatch(/^--scale: expected tiny, default, large or a multiplier/);
    expect((error as UsageError).message).toContain(JSON.stringify(input));
  });
});
