import type { ServiceInstance } from '../registry/instance.js';

/**
 * What a strategy sees of one instance: identity, weight, and the load the client measured.
 * Strategies only choose; the client measures load (in-flight counts, `PeakEwma`): tower's split.
 */
export interface Candidate {
  readonly instance: ServiceInstance;
  /** Requests this client has sent to the instance and not yet seen finish. */
  readonly inFlight: number;
  /** Load estimate for p2c_ewma: peak-EWMA latency × (in-flight + 1). Lower is better. */
  cost(): number;
  /** The instance's typical answer time in ms (a plain average); undefined before its first answer. */
  rtt(): number | undefined;
}

export interface PickContext {
  /** A request key for consistent hashing (a header value, a user id...). */
  key?: string;
}

/** Chooses one of the candidates; candidates are already filtered to available ones and non-empty. */
export interface BalancerStrategy {
  readonly name: StrategyName;
  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate;
}

export const strategyNames = [
  'round_robin',
  'weighted',
  'least_connections',
  'random',
  'p2c_ewma',
  'consistent_hash',
] as const;
export type StrategyName = (typeof strategyNames)[number];
