import net from 'node:net';

/**
 * Suites that need a real backend run whenever it answers. Under CI (`CI=true`, set by `.ci/run`,
 * which starts the backends) a missing backend fails the suite instead of skipping it.
 */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** A database the PostgreSQL suites may create and drop their own schemas in. */
export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when something accepts TCP connections at host:port within 500 ms. */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const required = process.env.CI === 'true' || process.env.CI === '1';

async function backend(name: string, url: string, port: number): Promise<boolean> {
  const u = new URL(url);
  const up = await answers(u.hostname, Number(u.port || port));
  const where = shownUrl(url);
  if (!up && required) throw new Error(`${name} at ${where} does not answer, and CI requires it`);
  if (!up) console.warn(`skipping ${name} suites: ${where} does not answer`);
  return up;
}

/** The URL without its password. */
function shownUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Use as `describe.runIf(await redisUp())(...)`. */
export const redisUp = () => backend('Redis', REDIS_URL, 6379);

/** Use as `describe.runIf(await pgUp())(...)`; the service suites add the `postgres` engine when it is up. */
export const pgUp = () => backend('PostgreSQL', PG_URL, 5432);

/** Deletes every Redis key under a test's prefix: tests share one Redis, so never FLUSHALL. */
export async function deleteRedisKeys(prefix: string, url: string = REDIS_URL): Promise<void> {
  const { Redis } = await import('ioredis');
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}
