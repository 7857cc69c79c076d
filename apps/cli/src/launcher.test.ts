import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@meshkit/toolkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startSystem, type System } from './launcher.js';
import { drainDelayFor, REDIS_DRAIN_DELAY_MS } from './parts.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function system(env: NodeJS.ProcessEnv): Promise<System> {
  const dataDir = await mkdtemp(join(tmpdir(), 'meshkit-launcher-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env });
  const started = await startSystem(['users', 'products'], { gateway: 0, users: 0, orders: 0, products: 0 }, config);
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await started.stop();
  });
  return {
    parts: started.parts,
    async stop() {
      stopped = true;
      await started.stop();
    },
  };
}

function urlOf(s: System, name: string): string {
  const part = s.parts.find((p) => p.name === name);
  if (!part) throw new Error(`${name} is not running`);
  return part.url;
}

describe('drainDelayFor', () => {
  it('is DRAIN_DELAY_MS when set; else 0 with the in-memory registry and 1500 with Redis', () => {
    expect(drainDelayFor(loadConfig({}))).toBe(0);
    expect(drainDelayFor(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }))).toBe(REDIS_DRAIN_DELAY_MS);
    expect(REDIS_DRAIN_DELAY_MS).toBe(1500);
    expect(drainDelayFor(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', DRAIN_DELAY_MS: '0' }))).toBe(0);
    expect(drainDelayFor(loadConfig({ DRAIN_DELAY_MS: '250' }))).toBe(250);
  });
});

describe('startSystem', () => {
  it('applies SERVICE_FAULTS to the services it runs, by path; health is never faulted', async () => {
    const s = await system({ SERVICE_FAULTS: '[{"prefix": "/products", "abort": {"status": 503, "percent": 100}}]' });
    const products = await fetch(`${urlOf(s, 'products')}/products`);
    expect(products.status).toBe(503);
    expect(products.headers.get('x-meshkit-fault')).toBe('abort');
    expect(await products.json()).toMatchObject({ type: 'urn:meshkit:problem:injected-fault' });
    expect((await fetch(`${urlOf(s, 'products')}/health/ready`)).status).toBe(200);
    // The same rules reach users, where no route is under /products.
    const users = await fetch(`${urlOf(s, 'users')}/users`);
    expect(users.status).toBe(200);
    expect(users.headers.get('x-meshkit-fault')).toBeNull();
  });

  it('stops the services together: their drain delays overlap instead of adding up', async () => {
    const s = await system({ DRAIN_DELAY_MS: '500' });
    const urls = ['users', 'products'].map((name) => urlOf(s, name));
    // Each service answers /health (status `draining`) until its drain delay is over.
    const drainingAt = new Map<string, number>();
    let watching = true;
    const watchers = urls.map(async (url) => {
      while (watching && !drainingAt.has(url)) {
        const status = await fetch(`${url}/health`)
          .then(async (res) => ((await res.json()) as { status: string }).status)
          .catch(() => 'gone');
        if (status === 'draining') drainingAt.set(url, performance.now());
        await sleep(10);
      }
    });
    await sleep(50);
    expect(drainingAt.size).toBe(0);
    await s.stop();
    watching = false;
    await Promise.all(watchers);
    const [first, second] = urls.map((url) => drainingAt.get(url));
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    // One after the other, the second would turn draining a whole drain delay (500 ms) later.
    expect(Math.abs((first ?? 0) - (second ?? 0))).toBeLessThan(250);
  });
});
