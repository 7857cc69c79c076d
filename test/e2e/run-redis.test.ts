import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from '../support/backends.js';
import { send } from '../support/shop.js';
import { eventually, freePort, killAll, meshkit, type Proc } from '../support/processes.js';

/**
 * Each part in its own OS process, finding the others through Redis, as `meshkit run` does it
 * across hosts: the seed's flow works, `/registry` shows each process's pid, and a part killed
 * with SIGKILL leaves the registry within its lease.
 */
describe.runIf(await redisUp())('meshkit run over Redis', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-run-'));
  const prefix = `meshkit-test:${randomUUID()}:`;
  const procs: Record<string, Proc> = {};
  let url = '';
  const common = {
    REDIS_URL,
    REGISTRY_PREFIX: prefix,
    REGISTRY_TTL_MS: '1500',
    HEARTBEAT_MS: '500',
    DATA_DIR: dataDir,
  };

  beforeAll(async () => {
    const gatewayPort = await freePort();
    url = `http://127.0.0.1:${gatewayPort}`;
    for (const part of ['users', 'products', 'orders']) {
      procs[part] = meshkit(['run', part], { ...common, PORT: String(await freePort()) });
    }
    procs.gateway = meshkit(['run', 'gateway'], { ...common, GATEWAY_PORT: String(gatewayPort) });
    await eventually(async () => {
      const r = await send(url, 'GET', '/registry');
      return r.status === 200 && r.body.services.filter((s: { instances: unknown[] }) => s.instances.length).length === 3;
    }, 20_000);
  }, 30_000);

  afterAll(async () => {
    for (const p of Object.values(procs)) p.child.kill('SIGTERM');
    await Promise.all(Object.values(procs).map((p) => p.exited));
    killAll();
    await deleteRedisKeys(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the seed flow across four processes', async () => {
    const user = await send(url, 'POST', '/users', { name: 'John Doe', email: `${randomUUID()}@example.com` });
    const product = await send(url, 'POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
    const order = await send(url, 'POST', '/orders', {
      user_id: user.body.id,
      items: [{ product_id: product.body.id, quantity: 1 }],
      total: 999.99,
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const mine = await send(url, 'GET', `/orders/user/${user.body.id}`);
    expect(mine.body.map((o: { id: string }) => o.id)).toEqual([order.body.id]);
  });

  it("lists every instance with its process's pid", async () => {
    const view = (await send(url, 'GET', '/registry')).body;
    const pids = view.services.flatMap((s: { instances: { meta: { pid: string } }[] }) =>
      s.instances.map((i) => Number(i.meta.pid)),
    );
    expect(pids.sort()).toEqual([procs.users, procs.products, procs.orders].map((p) => p?.child.pid).sort());
  });

  it('drops a SIGKILLed instance within its lease and answers 503 with Retry-After', async () => {
    procs.products?.child.kill('SIGKILL');
    await procs.products?.exited;
    const killedAt = Date.now();
    await eventually(async () => {
      const view = (await send(url, 'GET', '/registry')).body;
      const products = view.services.find((s: { name: string }) => s.name === 'product-service');
      return !products || products.instances.length === 0;
    }, 5_000);
    expect(Date.now() - killedAt).toBeLessThan(1500 + 1500);
    const r = await send(url, 'GET', '/products');
    expect(r.status).toBe(503);
    expect(String(r.headers['content-type'])).toContain('application/problem+json');
    expect(r.headers['retry-after']).toBeDefined();
  });
});
