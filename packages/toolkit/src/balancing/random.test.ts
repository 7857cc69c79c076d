import { describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../registry/instance.js';
import { RandomStrategy } from './random.js';
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

describe('RandomStrategy', () => {
  it('maps the random source onto the list', () => {
    const values = [0, 0.34, 0.99, 1];
    const r = new RandomStrategy(() => values.shift() ?? 0);
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const picks = Array.from({ length: 4 }, () => r.pick(list, {}).instance.id);
    expect(picks).toEqual(['a', 'b', 'c', 'c']);
  });

  it('reaches every candidate with Math.random', () => {
    const r = new RandomStrategy();
    const list = ['a', 'b', 'c'].map((id) => candidate(id));
    const seen = new Set(Array.from({ length: 300 }, () => r.pick(list, {}).instance.id));
    expect(seen).toEqual(new Set(['a', 'b', 'c']));
  });
});
