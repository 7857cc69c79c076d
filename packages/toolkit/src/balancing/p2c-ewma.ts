import { type RandomSource, randomIndex } from './random.js';
import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/** Of the two drawn, one whose typical answer time is this many times the other's is passed over. */
export const SLOWER_FACTOR = 4;

/**
 * Power of two choices (tower's p2c): draw two distinct candidates at random and keep the one
 * with the lower cost (peak-EWMA latency × (in-flight + 1)). Avoids the herd that always-least
 * causes while staying close to it.
 *
 * One exception: when one of the two typically answers `SLOWER_FACTOR` times slower than the
 * other (their plain latency averages), the faster is kept whatever their costs. Cost multiplies
 * by in-flight requests, so under load a fast instance with many requests in flight can cost as
 * much as an idle slow one, and the slow one kept getting a share (7 % for one 10× slower of 3).
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
    const ra = a.rtt();
    const rb = b.rtt();
    if (ra !== undefined && rb !== undefined) {
      if (ra >= SLOWER_FACTOR * rb) return b;
      if (rb >= SLOWER_FACTOR * ra) return a;
    }
    return b.cost() < a.cost() ? b : a;
  }
}
