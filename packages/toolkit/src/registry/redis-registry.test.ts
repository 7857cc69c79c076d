import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from '../../../../test/support/backends.js';
import { isMeshError } from '../errors.js';
import { RedisRegistry } from './redis-registry.js';
import { registration, registryBehaviour } from './registry-behaviour.test-suite.js';
import type { RegistryEvent } from './registry.js';

const up = await redisUp();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function recordingLogger() {
  const warns: { obj: object; msg?: string }[] = [];
  const infos: { obj: object; msg?: string }[] = [];
  return {
    warns,
    infos,
    warn: (obj: object, msg?: string) => warns.push({ obj, msg }),
    info: (obj: object, msg?: string) => infos.push({ obj, msg }),
  };
}

describe.runIf(up)('RedisRegistry', () => {
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await admin.quit();
  });

  registryBehaviour('redis', async () => {
    const prefix = `meshkit-test:${randomUUID()}:`;
    const clients: RedisRegistry[] = [];
    const open = () => {
      const r = new RedisRegistry({ url: REDIS_URL, prefix });
      clients.push(r);
      return r;
    };
    return {
      registry: open(),
      other: async () => open(),
      advance: (ms) => sleep(ms),
      cleanup: async () => {
        await Promise.all(clients.map((c) => c.close()));
        await deleteRedisKeys(prefix);
      },
    };
  });

  describe('Redis specifics', () => {
    const prefix = `meshkit-test:${randomUUID()}:`;
    const name = `meshkit-test-${randomUUID()}`;
    let registry: RedisRegistry;
    beforeAll(() => {
      registry = new RedisRegistry({ url: REDIS_URL, prefix, connectionName: name });
    });
    afterAll(async () => {
      await registry.close();
      await deleteRedisKeys(prefix);
    });

    it('calls made before the first connection is up wait for it, and all succeed', async () => {
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);
      const fresh = new RedisRegistry({ url: REDIS_URL, prefix });
      const results = await Promise.all(Array.from({ length: 30 }, () => fresh.services()));
      expect(results).toHaveLength(30);
      await fresh.close();
      await sleep(10);
      process.off('warning', onWarning);
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    });

    it('the lease is a key expiring on the server', async () => {
      const reg = registration({ service: 'lease' });
      await registry.register(reg, { ttlMs: 5000 });
      const pttl = await admin.pttl(`${prefix}instance:${reg.id}`);
      expect(pttl).toBeGreaterThan(4000);
      expect(pttl).toBeLessThanOrEqual(5000);
      expect(await admin.sismember(`${prefix}service:lease`, reg.id)).toBe(1);
      expect(await admin.sismember(`${prefix}services`, 'lease')).toBe(1);
    });

    it('heartbeat resolves false once Redis lost the lease (key deleted), and a re-register restores it', async () => {
      const reg = registration({ service: 'flushed' });
      await registry.register(reg, { ttlMs: 5000 });
      expect(await registry.heartbeat(reg.id)).toBe(true);
      await admin.del(`${prefix}instance:${reg.id}`);
      expect(await registry.heartbeat(reg.id)).toBe(false);
      // Heartbeat must not resurrect the key: it is still gone.
      expect(await admin.exists(`${prefix}instance:${reg.id}`)).toBe(0);
      expect(await registry.instances('flushed')).toEqual([]);
      await registry.register(reg, { ttlMs: 5000 });
      expect((await registry.instances('flushed')).map((i) => i.id)).toEqual([reg.id]);
    });

    it('an expired id is dropped from its service set, announced down once, and the empty service forgotten', async () => {
      const events: RegistryEvent[] = [];
      const stop = registry.watch((e) => events.push(e));
      const reg = registration({ service: 'expiring' });
      await vi.waitFor(
        async () => {
          await registry.register(reg, { ttlMs: 300 });
          await sleep(20);
          expect(events.some((e) => e.id === reg.id)).toBe(true);
        },
        { timeout: 3000, interval: 10 },
      );
      await sleep(400);
      expect(await registry.instances('expiring')).toEqual([]);
      expect(await admin.sismember(`${prefix}service:expiring`, reg.id)).toBe(0);
      expect(await registry.services()).not.toContain('expiring');
      await registry.instances('expiring');
      await vi.waitFor(() => expect(events.filter((e) => e.type === 'down' && e.id === reg.id)).toHaveLength(1));
      await sleep(50);
      expect(events.filter((e) => e.type === 'down' && e.id === reg.id)).toHaveLength(1);
      stop();
    });

    it('a heartbeat from a client that did not register the instance renews the stored lease', async () => {
      const other = new RedisRegistry({ url: REDIS_URL, prefix });
      const reg = registration({ service: 'foreign' });
      await registry.register(reg, { ttlMs: 5000 });
      expect(await other.heartbeat(reg.id)).toBe(true);
      expect((await other.instances('foreign'))[0]?.port).toBe(reg.port);
      expect(await other.heartbeat(randomUUID())).toBe(false);
      await other.close();
    });

    it('ignores malformed messages on the change channel', async () => {
      const events: RegistryEvent[] = [];
      const stop = registry.watch((e) => events.push(e));
      const reg = registration({ service: 'garbled' });
      await vi.waitFor(
        async () => {
          await registry.register(reg, { ttlMs: 5000 });
          await sleep(20);
          expect(events.some((e) => e.id === reg.id)).toBe(true);
        },
        { timeout: 3000, interval: 10 },
      );
      events.length = 0;
      for (const junk of ['not json', '{"type":"up","service":"x","id":"y"}', '[]', 'null', '{"type":"gone"}']) {
        await admin.publish(`${prefix}changes`, junk);
      }
      await admin.publish(`${prefix}changes`, JSON.stringify({ type: 'down', service: 'garbled', id: 'z' }));
      await vi.waitFor(() => expect(events).toEqual([{ type: 'down', service: 'garbled', id: 'z' }]));
      stop();
    });

    it('recovers from dropped connections: commands work again and the change feed is resubscribed', async () => {
      const events: RegistryEvent[] = [];
      const stop = registry.watch((e) => events.push(e));
      const first = registration({ service: 'reconnect' });
      await vi.waitFor(
        async () => {
          await registry.register(first, { ttlMs: 5000 });
          await sleep(20);
          expect(events.some((e) => e.id === first.id)).toBe(true);
        },
        { timeout: 3000, interval: 10 },
      );
      const list = (await admin.client('LIST')) as string;
      const ids = list
        .split('\n')
        .filter((line) => line.includes(` name=${name} `) || line.includes(` name=${name}:changes `))
        .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1]);
      expect(ids).toHaveLength(2);
      for (const id of ids) await admin.client('KILL', 'ID', String(id));
      const second = registration({ service: 'reconnect' });
      await vi.waitFor(
        async () => {
          await registry.register(second, { ttlMs: 5000 }).catch(() => {});
          await sleep(20);
          expect(events.some((e) => e.id === second.id)).toBe(true);
        },
        { timeout: 5000, interval: 50 },
      );
      stop();
    });
  });
});

describe('RedisRegistry with Redis unreachable', () => {
  it('fails every call fast, never hangs, logs the outage once, closes cleanly', async () => {
    const logger = recordingLogger();
    const registry = new RedisRegistry({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 300, logger });
    const stop = registry.watch(() => {});
    const calls: [string, () => Promise<unknown>][] = [
      ['register', () => registry.register(registration())],
      ['heartbeat', () => registry.heartbeat('x')],
      ['deregister', () => registry.deregister('x')],
      ['instances', () => registry.instances('user-service')],
      ['services', () => registry.services()],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [op, call] of calls) {
        const started = performance.now();
        const err = await call().catch((e: unknown) => e);
        expect(isMeshError(err) && err.code, op).toBe('UPSTREAM_FAILED');
        expect(performance.now() - started, op).toBeLessThan(1300);
      }
      await sleep(400);
    }
    // Several reconnect attempts have failed by now: one warning per connection, not one per retry.
    const byConnection = logger.warns.filter((w) => /unreachable/.test(w.msg ?? '')).map((w) => (w.obj as { what: string }).what);
    expect(byConnection.sort()).toEqual(['changes feed', 'commands']);
    stop();
    await registry.close();
    const err = await registry.instances('x').catch((e: unknown) => e);
    expect(isMeshError(err)).toBe(true);
  });

  it('waits (bounded) for a connection that never answers', async () => {
    // A listening socket that accepts but never speaks RESP: the handshake never completes.
    const net = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const server = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const registry = new RedisRegistry({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
    const started = performance.now();
    const err = await registry.services().catch((e: unknown) => e);
    expect(isMeshError(err) && err.code).toBe('UPSTREAM_FAILED');
    expect(performance.now() - started).toBeLessThan(1300);
    await registry.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
});
