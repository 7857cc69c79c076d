import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/** Each candidate in turn. A plain counter: a changing list only shifts where the turn resumes. */
export class RoundRobinStrategy implements BalancerStrategy {
  readonly name = 'round_robin' as const;
  private next = 0;

  pick(candidates: readonly Candidate[], _ctx: PickContext = {}): Candidate {
    const index = this.next % candidates.length;
    // Wrap well before losing integer precision.
    this.next = (this.next + 1) % Number.MAX_SAFE_INTEGER;
    return candidates[index] as Candidate;
  }
}
