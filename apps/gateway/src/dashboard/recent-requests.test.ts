import { describe, expect, it } from 'vitest';
import { RecentRequests } from './recent-requests.js';

describe('RecentRequests', () => {
  it('lists the newest first, without query strings', () => {
    const recent = new RecentRequests(5);
    recent.add('r1', 'GET', '/users?email=a@b.c', 200, 1.234, 'user-service', 'u1', 10);
    recent.add('r2', 'POST', '/orders', 503, 2, 'order-service', undefined, 20);
    expect(recent.list()).toEqual([
      { request_id: 'r2', at: 20, method: 'POST', path: '/orders', status: 503, duration_ms: 2, service: 'order-service', instance: null },
      { request_id: 'r1', at: 10, method: 'GET', path: '/users', status: 200, duration_ms: 1.23, service: 'user-service', instance: 'u1' },
    ]);
  });

  it('keeps only the last `capacity`', () => {
    const recent = new RecentRequests(3);
    for (let k = 1; k <= 7; k++) recent.add(`r${k}`, 'GET', `/p/${k}`, 200, k, 's', 'i', k);
    expect(recent.list().map((r) => r.request_id)).toEqual(['r7', 'r6', 'r5']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentRequests(0)).toThrow(/capacity/);
  });
});
