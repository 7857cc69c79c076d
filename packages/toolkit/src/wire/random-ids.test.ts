import { afterEach, describe, expect, it, vi } from 'vitest';
import { randomTraceparent, randomUuid } from './random-ids.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;

describe('random ids', () => {
  afterEach(() => {
    vi.doUnmock('node:crypto');
    vi.resetModules();
  });

  it('makes version 4 UUIDs, each different, across several refills of the random pool', () => {
    const ids = Array.from({ length: 2000 }, randomUuid); // 16 bytes each: 8 pools of 4 KiB
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('makes sampled version 00 traceparents, each different, interleaved with UUIDs from the same pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const tp = randomTraceparent();
      expect(tp).toMatch(TRACEPARENT);
      seen.add(tp.slice(3, 35)).add(tp.slice(36, 52)).add(randomUuid());
    }
    expect(seen.size).toBe(3000);
  });

  it('uses every hex digit in every position of the ids (nothing stuck)', () => {
    const digits = Array.from({ length: 55 }, () => new Set<string>());
    for (let i = 0; i < 3000; i++) [...randomTraceparent()].forEach((c, at) => digits[at]?.add(c));
    const idPositions = [...Array.from({ length: 32 }, (_, i) => 3 + i), ...Array.from({ length: 16 }, (_, i) => 36 + i)];
    for (const at of idPositions) expect(digits[at]?.size).toBe(16);
  });

  it('never gives an all-zero trace or parent id, even when the random bytes are all zero', async () => {
    vi.doMock('node:crypto', async (original) => ({
      ...(await original<typeof import('node:crypto')>()),
      randomFillSync: (buffer: Buffer) => buffer.fill(0),
    }));
    vi.resetModules();
    const zero = await import('./random-ids.js');
    expect(zero.randomTraceparent()).toBe(`00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`);
    expect(zero.randomUuid()).toBe('00000000-0000-4000-8000-000000000000');
  });
});
