import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { send } from '../support/shop.js';
import { eventually, freePort, killAll, listening, meshkit } from '../support/processes.js';

/** `meshkit start` as a user runs it: a real process, real ports, real signals. */
afterEach(killAll);

async function ports() {
  return {
    GATEWAY_PORT: String(await freePort()),
    USERS_PORT: String(await freePort()),
    ORDERS_PORT: String(await freePort()),
    PRODUCTS_PORT: String(await freePort()),
  };
}

async function startShopProcess(env: Record<string, string>) {
  const proc = meshkit(['start'], env);
  const url = `http://127.0.0.1:${env.GATEWAY_PORT}`;
  await eventually(async () => {
    const r = await send(url, 'GET', '/registry');
    return r.status === 200 && r.body.services.filter((s: { instances: unknown[] }) => s.instances.length).length === 3;
  }, 20_000);
  return { proc, url };
}

describe('meshkit start', () => {
  it('serves the shop, stops cleanly on SIGTERM, and keeps every record across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-cli-'));
    try {
      const env = { DATA_DIR: dataDir, ...(await ports()) };
      const first = await startShopProcess(env);
      const user = await send(first.url, 'POST', '/users', { name: 'John Doe', email: 'john@example.com' });
      const product = await send(first.url, 'POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
      const order = await send(first.url, 'POST', '/orders', {
        user_id: user.body.id,
        items: [{ product_id: product.body.id, quantity: 1 }],
        total: 999.99,
      });
      expect([user.status, product.status, order.status]).toEqual([201, 201, 201]);

      first.proc.child.kill('SIGTERM');
      expect(await first.proc.exited).toBe(0);
      for (const port of Object.values(env).filter((v) => /^\d+$/.test(v))) {
        expect(await listening(Number(port))).toBe(false);
      }
      for (const file of readdirSync(dataDir).filter((f) => f.endsWith('.sqlite'))) {
        const db = new Database(join(dataDir, file), { readonly: true });
        expect(db.pragma('integrity_check', { simple: true }), file).toBe('ok');
        db.close();
      }

      const second = await startShopProcess(env);
      expect((await send(second.url, 'GET', `/users/${user.body.id}`)).body).toEqual(user.body);
      expect((await send(second.url, 'GET', `/products/${product.body.id}`)).body.stock).toBe(9);
      expect((await send(second.url, 'GET', `/orders/${order.body.id}`)).body).toEqual(order.body);
      second.proc.child.kill('SIGINT');
      expect(await second.proc.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('runs the demo and shows the registry as a table', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-cli-'));
    try {
      const env = { DATA_DIR: dataDir, ...(await ports()) };
      const shop = await startShopProcess(env);
      const demo = meshkit(['demo', '--url', shop.url], {});
      expect(await demo.exited, demo.output()).toBe(0);
      expect(demo.output()).toContain('Created order');
      expect(demo.output()).toContain('User orders');
      const status = meshkit(['status', '--url', shop.url], {});
      expect(await status.exited, status.output()).toBe(0);
      for (const name of ['user-service', 'product-service', 'order-service']) expect(status.output()).toContain(name);
      shop.proc.child.kill('SIGTERM');
      expect(await shop.proc.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses bad configuration at start with one line naming the variable', async () => {
    const bad = meshkit(['start'], { GATEWAY_PORT: 'eighty' });
    expect(await bad.exited).toBe(2);
    const lines = bad.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('GATEWAY_PORT');
  });

  it('refuses `run` without REDIS_URL, saying why', async () => {
    const lonely = meshkit(['run', 'users'], {});
    expect(await lonely.exited).toBe(2);
    expect(lonely.output()).toContain('REDIS_URL');
  });
});
