import { describe, expect, it } from 'vitest';
import { warmUpNextTick } from './next-tick-warm-up.js';

describe('warmUpNextTick', () => {
  it('runs its ticks over many turns of the event loop, once per process', async () => {
    let ticks = 0;
    const counting: typeof process.nextTick = (callback, ...args) => {
      ticks += 1;
      process.nextTick(callback, ...args);
    };
    let turns = 0;
    let looping = true;
    const countTurns = () => {
      turns += 1;
      if (looping) setImmediate(countTurns);
    };
    setImmediate(countTurns);
    const first = warmUpNextTick(counting);
    expect(warmUpNextTick(counting)).toBe(first);
    await first;
    looping = false;
    expect(ticks).toBe(90_000);
    // Spread out: other work (a discovery starting beside it) keeps running meanwhile.
    expect(turns).toBeGreaterThanOrEqual(25);
    await warmUpNextTick(counting);
    expect(ticks).toBe(90_000);
  });
});
