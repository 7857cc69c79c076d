import type { ServiceInstance } from '../registry/instance.js';
import type { Candidate } from './strategy.js';

/** The load a test gives a candidate; anything left out is the idle default (weight 1, nothing in flight, no cost). */
export interface CandidateLoad {
  weight?: number;
  inFlight?: number;
  cost?: number;
  /** The typical answer time; left out, none known yet. */
  rtt?: number;
}

/** A healthy candidate of one service, distinguished only by its id and the load the test gives it. */
export function candidate(id: string, load: CandidateLoad = {}): Candidate {
  const instance: ServiceInstance = {
    id,
    service: 'svc',
    version: '1.0.0',
    host: '127.0.0.1',
    port: 1,
    weight: load.weight ?? 1,
    tags: [],
    meta: {},
    status: 'healthy',
    registeredAt: 0,
    lastHeartbeat: 0,
  };
  return { instance, inFlight: load.inFlight ?? 0, cost: () => load.cost ?? 0, rtt: () => load.rtt };
}
