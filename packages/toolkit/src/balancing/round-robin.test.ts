import { describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../registry/instance.js';
import { RoundRobinStrategy } from './round-robin.js';
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

describe('RoundRobinStrategy', () => {
  it('gives each candidate its turn, in order', () => {
    const rr = new RoundRobinStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const picks = Array.from({ length: 7 }, () => rr.pick(list, {}).instance.id);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('keeps going when the list shrinks', () => {
    const rr = new RoundRobinStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    rr.pick(list, {});
    rr.pick(list, {});
    const two = list.slice(0, 2);
    const picks = Array.from({ length: 4 }, () => rr.pick(two, {}).instance.id);
    expect(picks.filter((p) => p === 'a')).toHaveLength(2);
    expect(picks.filter((p) => p === 'b')).toHaveLength(2);
  });
});
