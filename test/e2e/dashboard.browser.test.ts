import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRedisKeys, PG_URL, pgUp, REDIS_URL, redisUp, required } from '../support/backends.js';
import { eventually, freePort, killAll, meshkit, type Proc } from '../support/processes.js';

/**
 * The gateway's dashboard in a real browser (Debian's chromium driven by playwright-core) over a
 * real `meshkit cluster` with two product instances: every service shows, traffic shows up, and an
 * instance killed with SIGKILL leaves the page within 2 s. Runs when /usr/bin/chromium exists;
 * under CI (`.ci/run` installs it) a missing chromium fails instead of skipping.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const BUILT_UI = fileURLToPath(new URL('../../apps/gateway/dist-dashboard/index.html', import.meta.url));
const SERVICES = ['user-service', 'product-service', 'order-service'];

/**
 * Short leases, so a killed instance is gone from the registry soon enough for the 2 s: its lease
 * runs out at most 500 ms after the kill (heartbeats every 100 ms), and the gateway's discovery
 * re-reads the registry every second (another process's re-read announces it sooner), then the
 * dashboard pushes the change to the browser at once. Worst case about 1.5 s.
 */
const REGISTRY_TTL_MS = 500;
const HEARTBEAT_MS = 100;
const LEAVE_WITHIN_MS = 2000;

function chromiumReady(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (required) throw new Error(`${CHROMIUM} is missing, and CI requires it (.ci/run installs Debian's chromium)`);
  console.warn(`skipping the dashboard browser test: ${CHROMIUM} is missing`);
  return false;
}

const ready = chromiumReady() && (await redisUp()) && (await pgUp());

interface RegistryView {
  services: { name: string; instances: { id: string; meta: { pid?: string } }[] }[];
}

async function registry(url: string): Promise<RegistryView> {
  const res = await request(`${url}/registry`);
  if (res.statusCode !== 200) throw new Error(`GET /registry answered ${res.statusCode}`);
  return (await res.body.json()) as RegistryView;
}

function instancesOf(view: RegistryView, service: string): { id: string; pid: number }[] {
  return (view.services.find((s) => s.name === service)?.instances ?? []).map((i) => ({ id: i.id, pid: Number(i.meta.pid) }));
}

/** False once the process is gone (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function call(url: string, method: string, path: string, body?: unknown, requestId?: string) {
  const res = await request(`${url}${path}`, {
    method: method as 'GET',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) };
}

describe.runIf(ready)('the dashboard in a browser, over a running cluster', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-dashboard-'));
  const userDataDir = mkdtempSync(join(tmpdir(), 'meshkit-chromium-'));
  const registryPrefix = `meshkit-test:${randomUUID()}:`;
  const schemaPrefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}_`;
  /** Every service pid seen, killed at the end if still there. */
  const pids = new Set<number>();
  let cluster: Proc | undefined;
  let browser: BrowserContext | undefined;

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (cluster?.child.exitCode === null) {
      cluster.child.kill('SIGTERM');
      await Promise.race([cluster.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    killAll();
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await deleteRedisKeys(registryPrefix);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(userDataDir, { recursive: true, force: true });
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const s of ['users', 'products', 'orders']) await client.query(`DROP SCHEMA IF EXISTS "${schemaPrefix}${s}" CASCADE`);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('shows every service, live traffic, and a killed instance leaving within 2 s', async () => {
    expect(existsSync(BUILT_UI), `${BUILT_UI} is missing: run \`npm run build\``).toBe(true);
    const gatewayPort = await freePort();
    const url = `http://127.0.0.1:${gatewayPort}`;
    cluster = meshkit(['cluster', '--replicas', 'products=2'], {
      REDIS_URL,
      REGISTRY_PREFIX: registryPrefix,
      REGISTRY_TTL_MS: String(REGISTRY_TTL_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      DATA_DIR: dataDir,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA_PREFIX: schemaPrefix,
      GATEWAY_PORT: String(gatewayPort),
    });
    const proc = cluster;
    try {
      await eventually(async () => {
        if (proc.child.exitCode !== null) throw new Error('the cluster exited');
        const view = await registry(url);
        return SERVICES.every((s) => instancesOf(view, s).length === (s === 'product-service' ? 2 : 1));
      }, 60_000, 200);
    } catch (err) {
      throw new Error(`${String(err)}\n--- cluster output ---\n${proc.output().slice(-4000)}`);
    }
    const products = instancesOf(await registry(url), 'product-service');
    for (const p of products) pids.add(p.pid);

    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const page: Page = browser.pages()[0] ?? (await browser.newPage());
    const response = await page.goto(`${url}/dashboard`);
    expect(response?.status()).toBe(200);

    // Every service, and both product instances by id.
    for (const s of SERVICES) await page.getByTestId(`service-${s}`).waitFor({ timeout: 10_000 });
    for (const p of products) await page.getByTestId(`instance-${p.id}`).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 10_000 });

    // Traffic: the seed's flow, then reads spread over both product instances.
    const user = await call(url, 'POST', '/users', { name: 'Dash Board', email: `${randomUUID()}@example.com` });
    const product = await call(url, 'POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
    expect([user.status, product.status]).toEqual([201, 201]);
    const order = await call(url, 'POST', '/orders', { user_id: user.body.id, items: [{ product_id: product.body.id, quantity: 1 }] });
    expect(order.status).toBe(201);
    for (let k = 0; k < 20; k++) expect((await call(url, 'GET', `/products/${product.body.id}`)).status).toBe(200);
    const marker = `browser-${randomUUID()}`;
    expect((await call(url, 'GET', '/products?limit=5', undefined, marker)).status).toBe(200);

    // The figures show up: a rate on both product rows, and the marked request among the recent ones.
    for (const p of products) {
      await expect
        .poll(async () => Number(await page.getByTestId(`instance-${p.id}`).getByTestId('req-per-s').textContent()), {
          timeout: 5000,
        })
        .toBeGreaterThan(0);
    }
    const recent = page.getByTestId(`request-${marker}`);
    await recent.waitFor({ timeout: 5000 });
    expect(await recent.textContent()).toContain('/products');
    expect(await recent.textContent()).not.toContain('limit=5');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // Kill one product instance outright: no deregistration, its lease has to run out.
    const [victim, survivor] = products as [(typeof products)[0], (typeof products)[0]];
    const killedAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    await page.getByTestId(`instance-${victim.id}`).waitFor({ state: 'detached', timeout: LEAVE_WITHIN_MS + 3000 });
    const leftAfterMs = Math.round(performance.now() - killedAt);
    console.info(`dashboard: the killed instance left the page ${leftAfterMs} ms after SIGKILL`);
    expect(leftAfterMs).toBeLessThan(LEAVE_WITHIN_MS);
    expect(await page.getByTestId(`instance-${survivor.id}`).count()).toBe(1);
    for (const s of SERVICES) expect(await page.getByTestId(`service-${s}`).count()).toBe(1);

    // The supervisor restarts it under a new id; that one is tracked for the cleanup too.
    await eventually(async () => {
      const now = instancesOf(await registry(url), 'product-service');
      for (const p of now) pids.add(p.pid);
      return now.length === 2 && !now.some((p) => p.id === victim.id);
    }, 15_000);
  }, 150_000);
});
