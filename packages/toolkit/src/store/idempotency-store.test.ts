import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { IDEMPOTENCY_TABLE, IdempotencyStore } from './idempotency-store.js';
import type { Store } from './store.js';
import { type TestDatabase, testEngines } from './test-databases.test-suite.js';

const T0 = 1_700_000_000_000;
const TTL = 10 * 60_000;
const LEASE = 5_000;

describe.each(await testEngines())('IdempotencyStore on $name', (engine) => {
  let database: TestDatabase;
  let store: Store<any>;
  let clock: ManualClock;

  const keysOn = async (s: Store<any>, extra: { purgeEveryMs?: number } = {}) => {
    const keys = new IdempotencyStore(s, { clock, ttlMs: TTL, leaseMs: LEASE, ...extra });
    await keys.ensureTable();
    return keys;
  };
  const rows = async () =>
    (await store.db.selectFrom(IDEMPOTENCY_TABLE).select(['key', 'state']).orderBy('key').execute()) as {
      key: string;
      state: string;
    }[];

  beforeEach(async () => {
    database = await engine.create();
    store = await database.open();
    clock = new ManualClock(T0);
  });
  afterEach(() => database.drop());

  it('creates its table when missing, from several stores at once, and keeps rows across a second creation', async () => {
    const others = await Promise.all([database.open(), database.open(), database.open(), database.open()]);
    // Replicas starting together race on the catalogue; every round must succeed.
    for (let round = 0; round < 5; round++) {
      await store.db.schema.dropTable(IDEMPOTENCY_TABLE).ifExists().execute();
      await Promise.all(others.map((s) => keysOn(s)));
    }
    const keys = await keysOn(store);
    expect(await keys.claim('k', 'f')).toMatchObject({ kind: 'claimed' });
    await keysOn(store);
    expect(await rows()).toEqual([{ key: 'k', state: 'running' }]);
  });

  it('claims a key once; the same fingerprint is then in progress, another one a mismatch', async () => {
    const keys = await keysOn(store);
    expect(await keys.claim('k', 'f')).toMatchObject({ kind: 'claimed', token: expect.any(String) });
    expect(await keys.claim('k', 'f')).toEqual({ kind: 'in_progress' });
    expect(await keys.claim('k', 'g')).toEqual({ kind: 'mismatch' });
  });

  it('replays a completed response exactly, text and bytes alike', async () => {
    const keys = await keysOn(store);
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    const text = Buffer.from('{"name":"Zoë ☕"}', 'utf8');
    for (const [key, body, contentType] of [
      ['bytes', bytes, 'application/octet-stream'],
      ['text', text, 'application/json; charset=utf-8'],
    ] as const) {
      const claim = await keys.claim(key, 'f');
      if (claim.kind !== 'claimed') throw new Error('expected a claim');
      expect(await keys.complete(key, claim.token, { status: 201, contentType, body })).toBe(true);
      const replay = await keys.claim(key, 'f');
      expect(replay).toEqual({ kind: 'replay', response: { status: 201, contentType, body } });
    }
    const empty = await keys.claim('empty', 'f');
    if (empty.kind !== 'claimed') throw new Error('expected a claim');
    await keys.complete('empty', empty.token, { status: 204, contentType: undefined, body: undefined });
    expect(await keys.claim('empty', 'f')).toEqual({
      kind: 'replay',
      response: { status: 204, contentType: undefined, body: undefined },
    });
  });

  it('forgets a released key, and only its holder can release or complete it', async () => {
    const keys = await keysOn(store);
    const first = await keys.claim('k', 'f');
    if (first.kind !== 'claimed') throw new Error('expected a claim');
    expect(await keys.release('k', 'someone else')).toBe(false);
    expect(await keys.complete('k', 'someone else', { status: 200, contentType: undefined, body: undefined })).toBe(false);
    expect(await keys.release('k', first.token)).toBe(true);
    expect(await rows()).toEqual([]);
    expect(await keys.claim('k', 'another request')).toMatchObject({ kind: 'claimed' });
  });

  it('lets a claim whose lease ran out be taken over, and the stale holder can then record nothing', async () => {
    const keys = await keysOn(store);
    const stale = await keys.claim('k', 'f');
    if (stale.kind !== 'claimed') throw new Error('expected a claim');
    clock.advance(LEASE - 1);
    expect(await keys.claim('k', 'f')).toEqual({ kind: 'in_progress' });
    clock.advance(1);
    const fresh = await keys.claim('k', 'f');
    if (fresh.kind !== 'claimed') throw new Error('expected a takeover');
    expect(fresh.token).not.toBe(stale.token);
    expect(await keys.complete('k', stale.token, { status: 201, contentType: undefined, body: undefined })).toBe(false);
    expect(await keys.release('k', stale.token)).toBe(false);
    expect(await keys.complete('k', fresh.token, { status: 201, contentType: 'text/plain', body: Buffer.from('2') })).toBe(
      true,
    );
    expect(await keys.claim('k', 'f')).toMatchObject({ kind: 'replay', response: { body: Buffer.from('2') } });
  });

  it('lets exactly one of several replicas take over a stale claim', async () => {
    const replicas = await Promise.all([store, await database.open(), await database.open()].map((s) => keysOn(s)));
    const first = replicas[0];
    if (!first) throw new Error('no replica');
    await first.claim('k', 'f');
    clock.advance(LEASE);
    const outcomes = await Promise.all(replicas.flatMap((r) => [r.claim('k', 'f'), r.claim('k', 'f')]));
    expect(outcomes.filter((o) => o.kind === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'in_progress')).toHaveLength(5);
  });

  it('never takes over a finished response before it expires, however old', async () => {
    const keys = await keysOn(store);
    const claim = await keys.claim('k', 'f');
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    clock.advance(LEASE * 10);
    await keys.complete('k', claim.token, { status: 201, contentType: undefined, body: Buffer.from('1') });
    clock.advance(TTL - 1);
    expect(await keys.claim('k', 'f')).toMatchObject({ kind: 'replay' });
    clock.advance(1);
    expect(await keys.claim('k', 'other request, once expired')).toMatchObject({ kind: 'claimed' });
  });

  it('purges expired rows lazily, at most once per interval', async () => {
    const keys = await keysOn(store, { purgeEveryMs: 2 * TTL });
    const a = await keys.claim('a', 'f'); // the first claim purges (nothing yet)
    if (a.kind !== 'claimed') throw new Error('expected a claim');
    await keys.complete('a', a.token, { status: 201, contentType: undefined, body: undefined });
    clock.advance(TTL);
    await keys.claim('b', 'f'); // `a` has expired, but the last purge is too recent
    expect(await rows()).toEqual([
      { key: 'a', state: 'done' },
      { key: 'b', state: 'running' },
    ]);
    clock.advance(TTL);
    await keys.claim('c', 'f'); // now a purge is due: `a` and `b` go
    expect(await rows()).toEqual([{ key: 'c', state: 'running' }]);
    clock.advance(TTL);
    expect(await keys.purgeExpired()).toBe(1);
    expect(await rows()).toEqual([]);
  });

  it('refuses a ttl or lease that is not positive', () => {
    expect(() => new IdempotencyStore(store, { ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => new IdempotencyStore(store, { leaseMs: -1 })).toThrow(/leaseMs/);
  });
});
