import { setTimeout as sleep } from 'node:timers/promises';
import { MeshError, type ServiceCaller, type ServiceRequest, type ServiceResponse, uuidv7 } from '@meshkit/toolkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { useServiceHarness } from '../../../test/support/service-harness.js';
import { FakeMesh } from '../test/support/fake-mesh.js';
import { createOrdersApp } from './main.js';
import { COMPENSATION_TIMEOUT_MS } from './request-context.js';

interface SeenCall {
  service: string;
  method: string;
  path: string;
  deadline?: number;
  timeoutMs?: number;
}

/**
 * The fake users and products behind a caller that honours deadlines as the ServiceClient does:
 * a call whose deadline has passed is refused with UPSTREAM_TIMEOUT, and a "slow" call (the work
 * is done, the answer late) fails with UPSTREAM_TIMEOUT at its deadline.
 */
class DeadlineCaller implements ServiceCaller {
  readonly seen: SeenCall[] = [];
  slow: ((service: string, req: ServiceRequest) => boolean) | undefined;
  /** Answers these calls, but only this many ms late (a caller that does not honour deadlines). */
  late: { matches(service: string, req: ServiceRequest): boolean; ms: number } | undefined;

  constructor(private readonly mesh: FakeMesh) {}

  async call<T = unknown>(service: string, req: ServiceRequest): Promise<ServiceResponse<T>> {
    this.seen.push({
      service,
      method: req.method,
      path: req.path,
      ...(req.deadline === undefined ? {} : { deadline: req.deadline }),
      ...(req.timeoutMs === undefined ? {} : { timeoutMs: req.timeoutMs }),
    });
    if (req.deadline !== undefined && req.deadline <= Date.now()) {
      throw new MeshError('UPSTREAM_TIMEOUT', `the deadline for ${service} passed before the request was sent`);
    }
    const res = await this.mesh.call<T>(service, req);
    if (this.late?.matches(service, req)) await sleep(this.late.ms);
    if (this.slow?.(service, req)) {
      await sleep(req.deadline === undefined ? 5000 : Math.max(0, req.deadline - Date.now()));
      throw new MeshError('UPSTREAM_TIMEOUT', `${service}: the deadline passed`);
    }
    return res;
  }
}

describe('orders passes its caller deadline on', () => {
  let mesh: FakeMesh;
  let caller: DeadlineCaller;
  beforeEach(() => {
    mesh = new FakeMesh();
    caller = new DeadlineCaller(mesh);
  });
  // The system clock: the deadlines are compared with Date.now() here, as the client does.
  const service = useServiceHarness({
    name: 'orders-deadline',
    open: (options) => createOrdersApp({ ...options, caller }),
  });
  const placeOrder = (body: unknown, headers: Record<string, string> = {}) =>
    service.inject({ method: 'POST', url: '/orders', headers, payload: body as object });

  it('every call of POST /orders carries the deadline of x-request-timeout-ms; none without it', async () => {
    const user = mesh.addUser(uuidv7());
    const a = mesh.addProduct(uuidv7(), 1.5, 10);
    const b = mesh.addProduct(uuidv7(), 2, 10);
    const items = [
      { product_id: a, quantity: 1 },
      { product_id: b, quantity: 2 },
    ];
    const before = Date.now();
    const res = await placeOrder({ user_id: user, items }, { 'x-request-timeout-ms': '4000' });
    const after = Date.now();
    expect(res.statusCode, res.body).toBe(201);
    expect(caller.seen.map((c) => `${c.service} ${c.method}`)).toEqual([
      'user-service GET',
      'product-service PUT',
      'product-service PUT',
    ]);
    for (const call of caller.seen) {
      expect(call.deadline).toBeGreaterThanOrEqual(before + 4000 - 1);
      expect(call.deadline).toBeLessThanOrEqual(after + 4000 + 1);
    }

    caller.seen.length = 0;
    expect((await placeOrder({ user_id: user, items })).statusCode).toBe(201);
    expect(caller.seen).toHaveLength(3);
    for (const call of caller.seen) expect(call.deadline).toBeUndefined();
  });

  it('a caller with no time left: 504 and no call made', async () => {
    const user = mesh.addUser(uuidv7());
    const p = mesh.addProduct(uuidv7(), 1, 10);
    const res = await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }, { 'x-request-timeout-ms': '0' });
    expect(res.statusCode).toBe(504);
    expect(caller.seen).toEqual([]);
    expect(mesh.stockOf(p)).toBe(10);
  });

  it('a caller that gave up while its user was looked up: nothing is reserved', async () => {
    const user = mesh.addUser(uuidv7());
    const p = mesh.addProduct(uuidv7(), 1, 10);
    caller.late = { matches: (service) => service === 'user-service', ms: 300 };
    const res = await placeOrder({ user_id: user, items: [{ product_id: p, quantity: 1 }] }, { 'x-request-timeout-ms': '100' });
    expect(res.statusCode, res.body).toBe(504);
    expect(caller.seen.map((c) => `${c.service} ${c.method}`)).toEqual(['user-service GET']);
    expect(mesh.stockOf(p)).toBe(10);
  });

  it('the deadline passes mid-order: 504, and the compensation still releases, on its own timeout', async () => {
    const user = mesh.addUser(uuidv7());
    const fast = mesh.addProduct(uuidv7(), 1, 10);
    const slow = mesh.addProduct(uuidv7(), 1, 10);
    // The slow product's reservation is made, but its answer comes after the caller's deadline.
    caller.slow = (service, req) => service === 'product-service' && req.method === 'PUT' && req.path.includes(slow);
    const started = Date.now();
    const res = await placeOrder(
      {
        user_id: user,
        items: [
          { product_id: fast, quantity: 2 },
          { product_id: slow, quantity: 3 },
        ],
      },
      { 'x-request-timeout-ms': '300' },
    );
    expect(res.statusCode, res.body).toBe(504);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    // Both reservations (the late one too: it may have been made) are released, past the dead
    // deadline: the releases carry none, only their own per-attempt timeout.
    const releases = caller.seen.filter((c) => c.method === 'DELETE');
    expect(releases).toHaveLength(2);
    for (const p of [fast, slow]) expect(releases.filter((r) => r.path.includes(p)), p).toHaveLength(1);
    for (const r of releases) {
      expect(r.deadline).toBeUndefined();
      expect(r.timeoutMs).toBe(COMPENSATION_TIMEOUT_MS);
    }
    expect(mesh.stockOf(fast)).toBe(10);
    expect(mesh.stockOf(slow)).toBe(10);
    expect([...mesh.reservations.keys()]).toEqual([]);
    expect((await service.inject({ method: 'GET', url: '/orders' })).json()).toEqual([]);
  });
});
