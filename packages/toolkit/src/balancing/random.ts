import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/** A uniform random number in [0, 1): `Math.random` by default, a seeded one in tests. */
export type RandomSource = () => number;

/** An index in [0, n) from a random source, safe against a source that returns 1. */
export function randomIndex(random: RandomSource, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** Uniformly random. */
export class RandomStrategy implements BalancerStrategy {
  readonly name = 'random' as const;

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(candidates: readonly Candidate[], _ctx: PickContext = {}): Candidate {
    return candidates[randomIndex(this.random, candidates.length)] as Candidate;
  }
}
