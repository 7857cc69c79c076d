import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/**
 * Fewest in-flight requests (as counted by this client). Ties are broken round robin: the scan
 * starts one place further each pick, so equally idle instances share the traffic.
 */
export class LeastConnectionsStrategy implements BalancerStrategy {
  readonly name = 'least_connections' as const;
  private offset = 0;

  pick(candidates: readonly Candidate[], _ctx: PickContext = {}): Candidate {
    const n = candidates.length;
    const start = this.offset % n;
    this.offset = (this.offset + 1) % Number.MAX_SAFE_INTEGER;
    let best = candidates[start] as Candidate;
    for (let step = 1; step < n; step++) {
      const c = candidates[(start + step) % n] as Candidate;
      if (c.inFlight < best.inFlight) best = c;
    }
    return best;
  }
}
