import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/** A weight the registry promised to be a positive integer; anything else counts as 1. */
export function effectiveWeight(candidate: Candidate): number {
  const w = candidate.instance.weight;
  return Number.isFinite(w) && w > 0 ? w : 1;
}

/**
 * Smooth weighted round robin (nginx): every pick adds each weight to its running score, takes
 * the highest score and subtracts the total from it. Over sum(weights) picks each instance gets
 * exactly its weight, interleaved. Scores are keyed by instance id so a changing list keeps them.
 */
export class WeightedStrategy implements BalancerStrategy {
  readonly name = 'weighted' as const;
  private readonly scores = new Map<string, number>();

  pick(candidates: readonly Candidate[], _ctx: PickContext = {}): Candidate {
    let total = 0;
    let best: Candidate | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const c of candidates) {
      const weight = effectiveWeight(c);
      const score = (this.scores.get(c.instance.id) ?? 0) + weight;
      this.scores.set(c.instance.id, score);
      total += weight;
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    const chosen = best as Candidate;
    this.scores.set(chosen.instance.id, bestScore - total);
    if (this.scores.size > candidates.length) this.forgetAbsent(candidates);
    return chosen;
  }

  /** Drop scores of instances no longer offered, so the map stays as small as the list. */
  private forgetAbsent(candidates: readonly Candidate[]): void {
    const present = new Set(candidates.map((c) => c.instance.id));
    for (const id of this.scores.keys()) if (!present.has(id)) this.scores.delete(id);
  }
}
