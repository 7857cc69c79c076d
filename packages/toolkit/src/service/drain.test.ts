import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceClient } from '../client/service-client.js';
import { Discovery } from '../discovery/discovery.js';
import { MemoryRegistry } from '../registry/memory-registry.js';
import { defineService } from './define-service.js';
import type { ServiceHandle } from './types.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** An instance of `echo-service`: `/echo` answers its id after 10 ms, `/long` after 600 ms. */
async function echoInstance(
  registry: MemoryRegistry,
  drainDelayMs: number,
  long?: { entered(): void; finished(): void },
): Promise<ServiceHandle> {
  const holder: { id?: string } = {};
  const handle = await defineService(
    {
      name: 'echo-service',
      routes(app) {
        app.get('/echo', async () => {
          await sleep(10);
          return { id: holder.id };
        });
        app.get('/long', async () => {
          long?.entered();
          await sleep(600);
          long?.finished();
          return { id: holder.id, long: true };
        });
      },
    },
    { port: 0, registry, drainDelayMs, logger: false, heartbeatMs: 200, ttlMs: 2000 },
  );
  holder.id = handle.instance.id;
  cleanups.push(() => handle.stop());
  return handle;
}

describe('graceful drain under load', () => {
  it('stopping one of two instances with drainDelayMs 300 fails no request, and closes after its in-flight work', async () => {
    const registry = new MemoryRegistry();
    cleanups.push(() => registry.close());
    const discovery = new Discovery(registry);
    await discovery.start();
    cleanups.push(() => discovery.stop());
    // No retries: the drain alone must keep every request away from the stopping instance.
    const client = new ServiceClient({ source: discovery, retry: { maxAttempts: 1 } });
    cleanups.push(() => client.close());

    let longEntered!: () => void;
    const inLong = new Promise<void>((resolve) => {
      longEntered = resolve;
    });
    let longFinishedAt = Number.POSITIVE_INFINITY;
    const a = await echoInstance(registry, 300, {
      entered: () => longEntered(),
      finished: () => {
        longFinishedAt = performance.now();
      },
    });
    const b = await echoInstance(registry, 300);
    await a.start();
    await b.start();
    expect(discovery.instances('echo-service')).toHaveLength(2);

    // A steady stream: 4 callers in a loop until told to stop.
    const answers: { at: number; id: string }[] = [];
    const failures: unknown[] = [];
    let running = true;
    const loop = async () => {
      while (running) {
        try {
          const res = await client.call<{ id: string }>('echo-service', { method: 'GET', path: '/echo' });
          if (res.status === 200) answers.push({ at: performance.now(), id: res.body.id });
          else failures.push(`status ${res.status}`);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await sleep(200);

    // Work in flight on a when the stop comes: it must finish, and the stop must wait for it.
    const long = fetch(`${a.url}/long`).then(async (res) => ({ status: res.status, body: await res.json() }));
    await inLong;
    const stopBegan = performance.now();
    await a.stop();
    const stopEnded = performance.now();
    await sleep(200);
    running = false;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    const longDone = await long;
    expect(longDone.status).toBe(200);
    expect(longDone.body).toEqual({ id: a.instance.id, long: true });
    expect(longFinishedAt).toBeLessThanOrEqual(stopEnded);
    // The drain delay is served before the listener closes.
    expect(stopEnded - stopBegan).toBeGreaterThanOrEqual(290);
    expect(await refused(a.instance.port)).toBe(true);

    const fromA = answers.filter((x) => x.id === a.instance.id);
    expect(fromA.length).toBeGreaterThan(0);
    // Once a is deregistered (at once, in memory), everything goes to b.
    expect(fromA.every((x) => x.at < stopBegan + 100)).toBe(true);
    const afterStop = answers.filter((x) => x.at > stopEnded);
    expect(afterStop.length).toBeGreaterThan(0);
    expect(afterStop.every((x) => x.id === b.instance.id)).toBe(true);
    expect(await registry.instances('echo-service')).toMatchObject([{ id: b.instance.id, status: 'healthy' }]);
  });
});
