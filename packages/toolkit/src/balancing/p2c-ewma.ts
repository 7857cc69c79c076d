import { type RandomSource, randomIndex } from './random.js';
import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/**
 * Power of two choices (tower's p2c): draw two distinct candidates at random and keep the one
 * with the lower cost (peak-EWMA latency × (in-flight + 1)). Avoids the herd that always-least
 * causes while staying close to it.
 */
export class P2cEwmaStrategy implements BalancerStrategy {
  readonly name = 'p2c_ewma' as const;

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(candidates: readonly Candidate[], _ctx: PickContext = {}): Candidate {
    const n = candidates.length;
    if (n === 1) return candidates[0] as Candidate;
    const i = randomIndex(this.random, n);
    let j = randomIndex(this.random, n - 1);
    if (j >= i) j += 1;
    const a = candidates[i] as Candidate;
    const b = candidates[j] as Candidate;
    return b.cost() < a.cost() ? b : a;
  }
}
