import { describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../registry/instance.js';
import { LeastConnectionsStrategy } from './least-connections.js';
import type { Candidate } from './strategy.js';

function candidate(id: string, load: { weight?: number; inFlight?: number; cost?: number } = {}): Candidate {
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
  return { instance, inFlight: load.inFlight ?? 0, cost: () => load.cost ?? 0 };
}

describe('LeastConnectionsStrategy', () => {
  it('picks the instance with the fewest in-flight requests', () => {
    const lc = new LeastConnectionsStrategy();
    const list = [candidate('a', { inFlight: 3 }), candidate('b', { inFlight: 1 }), candidate('c', { inFlight: 2 })];
    for (let i = 0; i < 5; i++) expect(lc.pick(list, {}).instance.id).toBe('b');
  });

  it('shares ties instead of always taking the first', () => {
    const lc = new LeastConnectionsStrategy();
    const list = [candidate('a'), candidate('b'), candidate('c'), candidate('busy', { inFlight: 9 })];
    const picks = new Set(Array.from({ length: 8 }, () => lc.pick(list, {}).instance.id));
    expect(picks).toEqual(new Set(['a', 'b', 'c']));
  });
});
