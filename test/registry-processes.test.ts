import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Discovery, RedisRegistry } from '@meshkit/toolkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from './support/backends.js';

// The child runs the BUILT toolkit: `npx tsc -b packages/toolkit` first (npm test's pretest does).
const fixture = fileURLToPath(new URL('./fixtures/register-instance.mjs', import.meta.url));
const TTL = 1500;
const HEARTBEAT = 500;
const SERVICE = 'fixture-service';

describe.runIf(await redisUp())('instances registered by other processes', () => {
  const prefix = `meshkit-test:${randomUUID()}:`;
  const children = new Set<ChildProcess>();
  let registry: RedisRegistry;
  let discovery: Discovery;

  /** Starts a child that registers one instance; resolves with its id once it is registered. */
  async function startInstance(): Promise<{ child: ChildProcess; id: string }> {
    const child = spawn(process.execPath, [fixture, REDIS_URL, prefix, SERVICE, String(TTL), String(HEARTBEAT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const lines = createInterface({ input: child.stdout! });
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => String(line)),
      once(child, 'exit').then(([code]) => {
        throw new Error(`fixture exited with ${code} before registering (is packages/toolkit built?)`);
      }),
    ]);
    lines.close();
    return { child, id: (JSON.parse(first) as { id: string }).id };
  }

  const seen = () => discovery.instances(SERVICE).map((i) => i.id);

  beforeAll(async () => {
    registry = new RedisRegistry({ url: REDIS_URL, prefix });
    discovery = new Discovery(registry);
    await discovery.start();
  });
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  afterAll(async () => {
    discovery.stop();
    await registry.close();
    await deleteRedisKeys(prefix);
  });

  it('a killed process (kill -9, no deregister) is gone from discovery within TTL + 1 s', async () => {
    const { child, id } = await startInstance();
    await vi.waitFor(() => expect(seen()).toContain(id), { timeout: 1000 });
    // Its heartbeats keep it alive past several TTLs.
    await new Promise((r) => setTimeout(r, TTL * 2));
    expect(seen()).toContain(id);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const killedAt = performance.now();
    await vi.waitFor(() => expect(seen()).not.toContain(id), { timeout: TTL + 1000 + 300, interval: 50 });
    // Gone because its lease ran out, not sooner: the last heartbeat was at most one interval before the kill.
    expect(performance.now() - killedAt).toBeGreaterThan(TTL - HEARTBEAT - 250);
  });

  it('a process stopped with SIGTERM deregisters and is gone within 1 s', async () => {
    const { child, id } = await startInstance();
    const other = await startInstance();
    await vi.waitFor(() => expect(seen()).toEqual(expect.arrayContaining([id, other.id])), { timeout: 1000 });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await vi.waitFor(() => expect(seen()).not.toContain(id), { timeout: 1000, interval: 20 });
    const [code] = await exited;
    expect(code).toBe(0);
    expect(seen()).toContain(other.id);
  });
});
