import { describe, expect, it } from 'vitest';
import { createRegistry } from './create-registry.js';
import { MemoryRegistry } from './memory-registry.js';
import { RedisRegistry } from './redis-registry.js';

describe('createRegistry', () => {
  it('no URL is the in-memory registry', async () => {
    for (const url of [undefined, '']) {
      const r = createRegistry(url);
      expect(r).toBeInstanceOf(MemoryRegistry);
      expect(r.kind).toBe('memory');
      await r.close();
    }
  });

  it('redis:// and rediss:// are the Redis registry', async () => {
    for (const url of ['redis://127.0.0.1:1', 'rediss://127.0.0.1:1/2']) {
      const r = createRegistry(url, { prefix: 'x:' });
      expect(r).toBeInstanceOf(RedisRegistry);
      expect(r.kind).toBe('redis');
      await r.close();
    }
  });

  it('anything else fails at once, naming the variable', () => {
    for (const url of ['localhost:6379', 'http://127.0.0.1:6379', 'not a url']) {
      expect(() => createRegistry(url)).toThrow(`REDIS_URL must be a redis:// or rediss:// URL, got "${url}"`);
    }
  });
});
