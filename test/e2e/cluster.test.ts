import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@meshkit/toolkit';
import { answers, deleteRedisKeys, REDIS_URL, redisUp, required } from '../support/backends.js';
import { send } from '../support/shop.js';
import { eventually, freePort, killAll, meshkit, type Proc } from '../support/processes.js';

/**
 * `meshkit cluster` as a user runs it: one supervisor process starting the gateway and every
 * service instance as its own OS process over Redis, restarting what dies, stopping all on SIGTERM.
 */

/** Every child pid any cluster here announced: whatever a failed test leaves is killed at the end. */
const childPids = new Set<number>();

/** Registry prefixes used here: their keys are deleted at the end (a killed instance leaves some). */
const prefixes: string[] = [];

afterAll(async () => {
  killAll();
  for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const prefix of prefixes) await deleteRedisKeys(prefix);
});

/** False once the process is gone (ESRCH). A zombie counts as gone: it runs nothing and holds nothing. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface Row {
  service: string;
  replica: number;
  pid: number;
  url: string;
}

/** The table the cluster prints once every process is up. */
function table(output: string): Row[] {
  const rows = [...output.matchAll(/^(gateway|users|products|orders) +(\d+) +(\d+) +(http\S+)$/gm)].map((m) => ({
    service: m[1] ?? '',
    replica: Number(m[2]),
    pid: Number(m[3]),
    url: m[4] ?? '',
  }));
  for (const row of rows) childPids.add(row.pid);
  return rows;
}

interface RegistryView {
  services: { name: string; instances: { id: string; meta: { pid?: string } }[] }[];
}

async function registry(url: string): Promise<RegistryView> {
  const r = await send(url, 'GET', '/registry');
  if (r.status !== 200) throw new Error(`GET /registry answered ${r.status}`);
  return r.body as RegistryView;
}

function pidsOf(view: RegistryView, service: string): number[] {
  return (view.services.find((s) => s.name === service)?.instances ?? []).map((i) => Number(i.meta.pid));
}

/** Starts a cluster and waits for its table and for the gateway to see `expected` instances per service. */
async function startCluster(
  args: string[],
  env: Record<string, string>,
  expected: Record<string, number>,
): Promise<{ proc: Proc; url: string; rows: Row[] }> {
  const proc = meshkit(['cluster', ...args], env);
  const url = `http://127.0.0.1:${env.GATEWAY_PORT}`;
  const processes = 1 + Object.values(expected).reduce((a, b) => a + b, 0);
  try {
    await eventually(() => proc.child.exitCode === null && table(proc.output()).length === processes, 45_000);
    await eventually(async () => {
      const view = await registry(url);
      return Object.entries(expected).every(([name, n]) => pidsOf(view, name).length === n);
    }, 20_000);
  } catch (err) {
    throw new Error(`${String(err)}\n--- cluster output ---\n${proc.output().slice(-4000)}`);
  }
  return { proc, url, rows: table(proc.output()) };
}

async function seedFlow(url: string): Promise<void> {
  const user = await send(url, 'POST', '/users', { name: 'John Doe', email: `${randomUUID()}@example.com` });
  expect(user.status, JSON.stringify(user.body)).toBe(201);
  const product = await send(url, 'POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
  expect(product.status, JSON.stringify(product.body)).toBe(201);
  const order = await send(url, 'POST', '/orders', {
    user_id: user.body.id,
    items: [{ product_id: product.body.id, quantity: 1 }],
    total: 999.99,
  });
  expect(order.status, JSON.stringify(order.body)).toBe(201);
  const mine = await send(url, 'GET', `/orders/user/${user.body.id}`);
  expect(mine.body.map((o: { id: string }) => o.id)).toEqual([order.body.id]);
  expect((await send(url, 'GET', `/products/${product.body.id}`)).body.stock).toBe(9);
}

async function commonEnv(dataDir: string): Promise<Record<string, string>> {
  const prefix = `meshkit-test:${randomUUID()}:`;
  prefixes.push(prefix);
  return {
    REDIS_URL,
    REGISTRY_PREFIX: prefix,
    REGISTRY_TTL_MS: '1500',
    HEARTBEAT_MS: '500',
    DATA_DIR: dataDir,
    GATEWAY_PORT: String(await freePort()),
  };
}

describe('meshkit cluster refuses to start without what it needs', () => {
  async function refused(args: string[], env: Record<string, string>): Promise<string> {
    const proc = meshkit(['cluster', ...args], env);
    expect(await proc.exited, proc.output()).toBe(2);
    const lines = proc.output().trim().split('\n');
    expect(lines, proc.output()).toHaveLength(1);
    return lines[0] ?? '';
  }

  it('names REDIS_URL when it is missing', async () => {
    const line = await refused([], {});
    expect(line).toBe('meshkit: cluster needs REDIS_URL: its processes find each other through Redis');
  });

  it('names DATABASE_URL when a service has more than one replica on SQLite', async () => {
    const line = await refused(['--replicas', 'products=3'], { REDIS_URL });
    expect(line).toBe(
      'meshkit: cluster needs DATABASE_URL: products has 3 replicas, and replicas of a service must share one database',
    );
  });

  it('refuses an unknown service and a count out of range', async () => {
    expect(await refused(['--replicas', 'bogus=2'], { REDIS_URL })).toMatch(/"bogus" is not a service/);
    expect(await refused(['--replicas', 'products=0'], { REDIS_URL })).toMatch(/products=0 must be .* from 1 to 16/);
    expect(await refused(['--replicas', 'products'], { REDIS_URL })).toMatch(/is not service=count/);
  });
});

describe.runIf(await redisUp())('meshkit cluster over Redis with SQLite (one replica each)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-cluster-'));
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;

  afterAll(async () => {
    if (cluster?.proc.child.exitCode === null) {
      cluster.proc.child.kill('SIGTERM');
      await cluster.proc.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the seed flow, with each instance registered under its own process', async () => {
    const env = await commonEnv(dataDir);
    cluster = await startCluster([], env, { 'user-service': 1, 'product-service': 1, 'order-service': 1 });
    const { proc, url, rows } = cluster;
    expect(rows.map((r) => `${r.service}#${r.replica}`)).toEqual(['gateway#1', 'users#1', 'products#1', 'orders#1']);
    expect(rows.find((r) => r.service === 'gateway')?.url).toBe(url);

    await seedFlow(url);

    const view = await registry(url);
    const registered = ['user-service', 'product-service', 'order-service'].flatMap((s) => pidsOf(view, s));
    const servicePids = rows.filter((r) => r.service !== 'gateway').map((r) => r.pid);
    expect(registered.sort()).toEqual([...servicePids].sort());
    expect(registered).not.toContain(proc.child.pid);
    expect(proc.output()).toMatch(/^products#1 +\| /m); // children's lines come through, labelled
  });

  it('restarts a child killed with SIGKILL, and the flow works again', async () => {
    if (!cluster) throw new Error('no cluster: the test before failed');
    const { proc, url, rows } = cluster;
    const old = rows.find((r) => r.service === 'products')?.pid ?? 0;
    process.kill(old, 'SIGKILL');
    const fresh = await eventually(async () => {
      const pids = pidsOf(await registry(url), 'product-service').filter((pid) => pid !== old);
      return pids[0];
    }, 10_000);
    childPids.add(fresh);
    expect(fresh).not.toBe(old);
    expect(alive(fresh)).toBe(true);
    expect(proc.output()).toContain(`products#1 (pid ${old}) was killed by SIGKILL; restarting in 250 ms`);
    // It registers a moment before it prints the URL line the supervisor waits for.
    await eventually(() => new RegExp(`products#1 restarted: pid ${fresh} at http://`).test(proc.output()), 5_000);
    expect(alive(old)).toBe(false);
    await seedFlow(url);
    // The killed instance could not deregister: its lease runs out.
    await eventually(async () => !pidsOf(await registry(url), 'product-service').includes(old), 5_000);
  });

  it('stops on SIGTERM with exit code 0, and every child is gone', async () => {
    if (!cluster) throw new Error('no cluster: the test before failed');
    const { proc, url, rows } = cluster;
    const view = await registry(url);
    const pids = [
      ...rows.filter((r) => r.service === 'gateway').map((r) => r.pid),
      ...['user-service', 'product-service', 'order-service'].flatMap((s) => pidsOf(view, s)),
    ];
    expect(pids).toHaveLength(4);
    proc.child.kill('SIGTERM');
    expect(await proc.exited, proc.output().slice(-2000)).toBe(0);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });
});

describe.runIf(await redisUp())('meshkit cluster without its supervisor', () => {
  it('leaves no orphans when the supervisor is killed with SIGKILL', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-cluster-'));
    try {
      const { proc, rows } = await startCluster([], await commonEnv(dataDir), {
        'user-service': 1,
        'product-service': 1,
        'order-service': 1,
      });
      proc.child.kill('SIGKILL');
      await proc.exited;
      // Each child sees its IPC channel close and stops as on SIGTERM.
      await eventually(() => rows.every((r) => !alive(r.pid)), 15_000);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

/**
 * Replicas sharing PostgreSQL. Runs once `DATABASE_URL` is accepted by the configuration
 * (PostgreSQL support) and PostgreSQL answers; under CI a missing PostgreSQL then fails.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function postgresClusterReady(): Promise<boolean> {
  try {
    loadConfig({ DATABASE_URL: PG_URL });
  } catch (err) {
    if (err instanceof ConfigError && err.message.includes('not built yet')) {
      console.warn(`skipping the PostgreSQL cluster suite: DATABASE_URL is refused (${err.message})`);
      return false;
    }
    throw err;
  }
  const u = new URL(PG_URL);
  const up = await answers(u.hostname, Number(u.port || 5432));
  if (!up && required) throw new Error(`PostgreSQL at ${u.host} does not answer, and CI requires it`);
  if (!up) console.warn(`skipping the PostgreSQL cluster suite: ${u.host} does not answer`);
  return up;
}

const postgresReady = (await redisUp()) && (await postgresClusterReady());

describe.runIf(postgresReady)('meshkit cluster with replicas on PostgreSQL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-cluster-'));
  const schemaPrefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}_`;
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;

  afterAll(async () => {
    if (cluster?.proc.child.exitCode === null) {
      cluster.proc.child.kill('SIGTERM');
      expect(await cluster.proc.exited).toBe(0);
    }
    rmSync(dataDir, { recursive: true, force: true });
    const pgModule = 'pg'; // a variable: the suite must load even where pg is not installed yet
    const { default: pg } = (await import(pgModule)) as { default: typeof import('pg') };
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const s of ['users', 'products', 'orders']) await client.query(`DROP SCHEMA IF EXISTS "${schemaPrefix}${s}" CASCADE`);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('sells exactly the stock across 3 product instances: 100 buyers, 10 units', async () => {
    const env = {
      ...(await commonEnv(dataDir)),
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA_PREFIX: schemaPrefix,
      LOG_LEVEL: 'info', // a start that hangs on the database says where
    };
    cluster = await startCluster(['--replicas', 'users=2,products=3,orders=2'], env, {
      'user-service': 2,
      'product-service': 3,
      'order-service': 2,
    });
    const { url, rows } = cluster;
    expect(rows).toHaveLength(8);

    const productPids = pidsOf(await registry(url), 'product-service');
    expect(new Set(productPids).size).toBe(3);
    expect([...productPids].sort()).toEqual(rows.filter((r) => r.service === 'products').map((r) => r.pid).sort());

    const user = await send(url, 'POST', '/users', { name: 'Buyer', email: `${randomUUID()}@example.com` });
    const product = await send(url, 'POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
    expect([user.status, product.status]).toEqual([201, 201]);
    const replies = await Promise.all(
      Array.from({ length: 100 }, () =>
        send(url, 'POST', '/orders', { user_id: user.body.id, items: [{ product_id: product.body.id, quantity: 1 }] }),
      ),
    );
    const counts: Record<number, number> = {};
    for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
    expect(counts).toEqual({ 201: 10, 409: 90 });
    expect((await send(url, 'GET', `/products/${product.body.id}`)).body.stock).toBe(0);
  }, 120_000);
});
