import { describe, expect, it } from 'vitest';
import { createStrategy, isStrategyName } from './create-strategy.js';
import { strategyNames } from './strategy.js';

describe('createStrategy', () => {
  it('builds every named strategy, each reporting its name', () => {
    for (const name of strategyNames) expect(createStrategy(name).name).toBe(name);
  });

  it('gives a fresh instance each time (no shared state between services)', () => {
    expect(createStrategy('round_robin')).not.toBe(createStrategy('round_robin'));
  });

  it('isStrategyName accepts only the known names', () => {
    expect(isStrategyName('weighted')).toBe(true);
    expect(isStrategyName('least_connection')).toBe(false);
    expect(isStrategyName('')).toBe(false);
  });
});
