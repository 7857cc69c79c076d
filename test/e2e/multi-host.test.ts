import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answers } from '../support/backends.js';
import { netnsUp, TestNetwork } from '../support/netns.js';
import { eventually, type Proc } from '../support/processes.js';
import { send } from '../support/shop.js';

/**
 * `meshkit run` across hosts, for real: Redis, two products instances and the gateway each in
 * their own network namespace (their own address, their own ports), on one bridge. The gateway
 * balances over both hosts; a host whose link is cut drops out of the registry within its lease
 * and gets no more traffic; when the link returns the host registers again.
 */
describe.runIf(await netnsUp())('meshkit run across hosts (network namespaces)', () => {
  const TTL_MS = 1500;
  const network = new TestNetwork({ redis: 1, a: 2, b: 3, gw: 4 });
  const dataDirs: Record<'a' | 'b', string> = { a: '', b: '' };
  const procs: Record<string, Proc> = {};
  let gateway = '';
  /** The product created directly on each host: a list through the gateway says which host answered. */
  const productIdOn: Record<'a' | 'b', string> = { a: '', b: '' };

  const outputs = () =>
    Object.entries(procs)
      .map(([name, p]) => `--- ${name}\n${p.output()}`)
      .join('\n');

  async function productHosts(): Promise<string[]> {
    const r = await send(gateway, 'GET', '/registry');
    if (r.status !== 200) throw new Error(`/registry answered ${r.status}`);
    const products = r.body.services.find((s: { name: string }) => s.name === 'product-service');
    return (products?.instances ?? []).map((i: { host: string }) => i.host).sort();
  }

  /** `GET /products` through the gateway, `count` times in a row: which host answered each. */
  async function productsFrom(count: number): Promise<('a' | 'b')[]> {
    const seen: ('a' | 'b')[] = [];
    for (let i = 0; i < count; i++) {
      const r = await send(gateway, 'GET', '/products');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const ids = r.body.map((p: { id: string }) => p.id);
      if (ids.length === 1 && ids[0] === productIdOn.a) seen.push('a');
      else if (ids.length === 1 && ids[0] === productIdOn.b) seen.push('b');
      else throw new Error(`GET /products answered ${JSON.stringify(r.body)}: neither host's list`);
    }
    return seen;
  }

  beforeAll(async () => {
    // Made here, not while collecting: a skipped suite must leave nothing behind.
    for (const name of ['a', 'b'] as const) dataDirs[name] = mkdtempSync(join(tmpdir(), `meshkit-host-${name}-`));
    await network.up();
    const redis = network.host('redis');
    const redisUrl = `redis://${redis.address}:6379`;
    procs.redis = network.run('redis', 'redis-server', [
      '--port', '6379', '--bind', redis.address, '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ]);
    await eventually(() => answers(redis.address, 6379), 5_000, 50);

    const common = {
      REDIS_URL: redisUrl,
      REGISTRY_TTL_MS: String(TTL_MS),
      HEARTBEAT_MS: '500',
      CONNECT_TIMEOUT_MS: '300',
      REQUEST_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'warn',
    };
    for (const name of ['a', 'b'] as const) {
      const { address } = network.host(name);
      procs[name] = network.meshkit(name, ['run', 'products'], {
        ...common,
        HOST: address,
        ADVERTISE_HOST: address,
        PORT: '8003',
        DATA_DIR: dataDirs[name],
      });
    }
    const gw = network.host('gw');
    procs.gw = network.meshkit('gw', ['run', 'gateway'], { ...common, HOST: gw.address, GATEWAY_PORT: '8000' });
    gateway = `http://${gw.address}:8000`;

    await eventually(async () => (await productHosts()).length === 2, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${outputs()}`);
    });
    for (const name of ['a', 'b'] as const) {
      const r = await send(`http://${network.host(name).address}:8003`, 'POST', '/products', {
        name: `only on host ${name}`,
        price: 1,
        stock: 1,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      productIdOn[name] = r.body.id;
    }
  }, 25_000);

  afterAll(async () => {
    try {
      await network.down();
    } finally {
      for (const dir of Object.values(dataDirs)) if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  it("lists one products instance per host, at the host's own address and pid", async () => {
    const r = await send(gateway, 'GET', '/registry');
    const products = r.body.services.find((s: { name: string }) => s.name === 'product-service');
    const seen = products.instances.map((i: { host: string; port: number; meta: { pid: string } }) => ({
      host: i.host,
      port: i.port,
      pid: Number(i.meta.pid),
    }));
    // `ip netns exec` execs node itself, so the registered pid is the one this test spawned.
    expect(seen).toEqual(
      (['a', 'b'] as const)
        .map((name) => ({ host: network.host(name).address, port: 8003, pid: procs[name]?.child.pid }))
        .sort((x, y) => x.host.localeCompare(y.host)),
    );
  });

  it('balances requests through the gateway over both hosts', async () => {
    const seen = await productsFrom(40);
    const onA = seen.filter((h) => h === 'a').length;
    expect(onA, `host a answered ${onA} of 40`).toBeGreaterThanOrEqual(10);
    expect(40 - onA, `host b answered ${40 - onA} of 40`).toBeGreaterThanOrEqual(10);
  });

  it('drops a host whose link is cut within its lease, then sends it nothing', async () => {
    await network.cut('a');
    const cutAt = Date.now();
    await eventually(async () => {
      const hosts = await productHosts();
      return hosts.length === 1 && hosts[0] === network.host('b').address;
    }, TTL_MS + 2_000, 50);
    expect(Date.now() - cutAt).toBeLessThan(TTL_MS + 2_000);
    // Host a's process still runs; only the network between it and everyone else is gone.
    expect(procs.a?.child.exitCode).toBeNull();
    expect(await productsFrom(20)).toEqual(Array(20).fill('b'));
  });

  it('takes the host back when its link returns', async () => {
    await network.restore('a');
    // Its heartbeats get through again (TCP retransmits back off, so give it some seconds).
    await eventually(async () => (await productHosts()).length === 2, 15_000);
    const seen = await productsFrom(10);
    expect(seen).toContain('a');
    expect(seen).toContain('b');
  }, 20_000);
});
