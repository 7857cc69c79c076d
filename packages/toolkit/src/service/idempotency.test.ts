import type { LightMyRequestResponse } from 'fastify';
import { Type } from 'typebox';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../clock.js';
import { MeshError } from '../errors.js';
import { IDEMPOTENCY_TABLE, IdempotencyStore } from '../store/idempotency-store.js';
import type { Store } from '../store/store.js';
import { type TestDatabase, testEngines } from '../store/test-databases.test-suite.js';
import { defineService } from './define-service.js';
import { parseIdempotencyKey, requestFingerprint } from './idempotency.js';
import type { ServiceApp, ServiceHandle } from './types.js';

describe('parseIdempotencyKey', () => {
  it('accepts 1–255 visible ASCII characters, bare or as a quoted sf-string', () => {
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('"8e03978e"')).toBe('8e03978e');
    expect(parseIdempotencyKey('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(parseIdempotencyKey('x'.repeat(255))).toHaveLength(255);
    expect(parseIdempotencyKey('!~')).toBe('!~');
  });

  it('refuses empty, too long, spaced, non-ASCII or malformed keys with a 400', () => {
    for (const bad of ['', '""', 'x'.repeat(256), `"${'x'.repeat(256)}"`, 'a b', 'ключ', 'tab\there', '"open', '"a"b"', '"\\n"', '"a b"']) {
      let error: unknown;
      try {
        parseIdempotencyKey(bad);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(bad)).toBeInstanceOf(MeshError);
      expect((error as MeshError).status).toBe(400);
    }
  });
});

describe('requestFingerprint', () => {
  it('is the same for the same JSON however its keys are ordered', () => {
    expect(requestFingerprint('POST', '/a', { x: 1, y: { b: [1, { d: 1, c: 2 }], a: null } })).toBe(
      requestFingerprint('post', '/a', { y: { a: null, b: [1, { c: 2, d: 1 }] }, x: 1 }),
    );
  });

  it('differs with the method, the path, the query or the body', () => {
    const base = requestFingerprint('POST', '/a', { x: 1 });
    const others = [
      requestFingerprint('PUT', '/a', { x: 1 }),
      requestFingerprint('POST', '/b', { x: 1 }),
      requestFingerprint('POST', '/a?v=2', { x: 1 }),
      requestFingerprint('POST', '/a', { x: 2 }),
      requestFingerprint('POST', '/a', { x: 1, y: 1 }),
      requestFingerprint('POST', '/a', [{ x: 1 }]),
      requestFingerprint('POST', '/a', undefined),
      requestFingerprint('POST', '/a', '{"x":1}'),
      requestFingerprint('POST', '/a', Buffer.from('{"x":1}')),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
    expect(requestFingerprint('POST', '/a', undefined)).not.toBe(requestFingerprint('POST', '/a', null));
  });
});

const T0 = 1_700_000_000_000;
const TTL = 24 * 60 * 60_000;
const LEASE = 60_000;

/** A gate a slow handler waits at until the test opens it. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe.each(await testEngines())('Idempotency-Key on POST routes ($name)', (engine) => {
  let database: TestDatabase;
  let clock: ManualClock;
  const handles: ServiceHandle[] = [];
  /** How many times each handler ran, over every instance of the service. */
  let runs: Record<string, number>;
  let slowGate: ReturnType<typeof gate>;
  let flakyFailures: number;

  const Thing = Type.Object({ name: Type.String({ minLength: 1 }), size: Type.Optional(Type.Integer({ default: 1 })) }, {
    additionalProperties: false,
  });

  const count = (name: string): number => {
    runs[name] = (runs[name] ?? 0) + 1;
    return runs[name];
  };

  function routes(app: ServiceApp): void {
    app.post('/things', { schema: { body: Thing } }, async (req, reply) => {
      reply.code(201);
      return { run: count('things'), name: req.body.name, size: req.body.size };
    });
    app.post('/slow', async (_req, reply) => {
      const run = count('slow');
      await slowGate.wait;
      reply.code(201);
      return { run };
    });
    app.post('/flaky', async () => {
      const run = count('flaky');
      if (flakyFailures > 0) {
        flakyFailures -= 1;
        throw new Error('boom');
      }
      return { run };
    });
    app.post('/unavailable', async () => {
      count('unavailable');
      throw new MeshError('NO_HEALTHY_INSTANCE', 'not now', { retryAfter: 1 });
    });
    app.post('/refuse', async () => {
      throw new MeshError('CONFLICT', `refused on run ${count('refuse')}`);
    });
    app.post('/empty', async (_req, reply) => {
      count('empty');
      return reply.code(204).send();
    });
    app.post('/text', async (_req, reply) => {
      return reply.type('text/plain; charset=utf-8').send(`run ${count('text')}`);
    });
    app.put('/things/:id', async () => ({ run: count('put') }));
  }

  /** One instance of the service over a store of this test's database (a replica, or a restart). */
  async function service(store?: Store<any>): Promise<ServiceHandle> {
    const handle = await defineService(
      { name: 'thing-service', routes, idempotency: { store: store ?? (await database.open()), ttlMs: TTL, leaseMs: LEASE } },
      { port: 0, logger: false, clock },
    );
    handles.push(handle);
    return handle;
  }

  function post(
    handle: ServiceHandle,
    url: string,
    key: string | undefined,
    body?: unknown,
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = key === undefined ? {} : { 'idempotency-key': key };
    if (body === undefined) return handle.app.inject({ method: 'POST', url, headers });
    return handle.app.inject({
      method: 'POST',
      url,
      headers: { ...headers, 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  function expectReplayOf(replay: LightMyRequestResponse, first: LightMyRequestResponse): void {
    expect(replay.statusCode).toBe(first.statusCode);
    expect(replay.headers['content-type']).toBe(first.headers['content-type']);
    expect(replay.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
  }

  function expectProblem(res: LightMyRequestResponse, status: number, detail?: RegExp): void {
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status, title: expect.any(String), detail: detail ?? expect.any(String) });
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  }

  const rowCount = async (store: Store<any>) =>
    Number((await store.db.selectFrom(IDEMPOTENCY_TABLE).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeEach(async () => {
    database = await engine.create();
    clock = new ManualClock(T0);
    runs = {};
    slowGate = gate();
    flakyFailures = 0;
  });

  afterEach(async () => {
    slowGate.open();
    await Promise.all(handles.splice(0).map((h) => h.stop()));
    await database.drop();
  });

  it('leaves POSTs without the header as they were: each one runs', async () => {
    const svc = await service();
    const a = await post(svc, '/things', undefined, { name: 'a' });
    const b = await post(svc, '/things', undefined, { name: 'a' });
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect([a.json().run, b.json().run]).toEqual([1, 2]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
  });

  it('runs the first request and replays its response to the same request, without running it again', async () => {
    const svc = await service();
    const first = await post(svc, '/things', 'key-1', { name: 'a', size: 2 });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ run: 1, name: 'a', size: 2 });

    const again = await post(svc, '/things', 'key-1', '{ "size": 2,\n "name": "a" }'); // same JSON, other bytes
    expectReplayOf(again, first);
    expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expectReplayOf(await post(svc, '/things', '"key-1"', { name: 'a', size: 2 }), first); // the sf-string form
    expect(runs.things).toBe(1);

    // Another key is another request.
    expect((await post(svc, '/things', 'key-2', { name: 'a', size: 2 })).json().run).toBe(2);
  });

  it('replays bodies exactly: text, and an empty 204', async () => {
    const svc = await service();
    const text = await post(svc, '/text', 'k-text');
    expect(text.body).toBe('run 1');
    expectReplayOf(await post(svc, '/text', 'k-text'), text);
    const empty = await post(svc, '/empty', 'k-empty');
    expect(empty.statusCode).toBe(204);
    const replay = await post(svc, '/empty', 'k-empty');
    expectReplayOf(replay, empty);
    expect(replay.body).toBe('');
    expect(runs).toMatchObject({ text: 1, empty: 1 });
  });

  it('refuses the same key for a different body or path with a 422, running nothing', async () => {
    const svc = await service();
    expect((await post(svc, '/things', 'key-1', { name: 'a' })).statusCode).toBe(201);
    expectProblem(await post(svc, '/things', 'key-1', { name: 'b' }), 422, /different request/);
    expectProblem(await post(svc, '/things', 'key-1', { name: 'a', size: 1 }), 422); // an explicit default is another body
    expectProblem(await post(svc, '/flaky', 'key-1', { name: 'a' }), 422);
    expect(runs).toEqual({ things: 1 });
  });

  it('refuses a malformed key with a 400 and does not run the handler', async () => {
    const svc = await service();
    for (const key of ['', 'x'.repeat(256), 'two words', 'clé']) {
      const res = await svc.app.inject({
        method: 'POST',
        url: '/things',
        headers: { 'content-type': 'application/json', 'idempotency-key': Buffer.from(key, 'utf8').toString('latin1') },
        payload: JSON.stringify({ name: 'a' }),
      });
      expectProblem(res, 400, /Idempotency-Key/);
    }
    expect((await post(svc, '/things', 'x'.repeat(255), { name: 'a' })).statusCode).toBe(201);
    expect(runs).toEqual({ things: 1 });
  });

  it('does not use up a key on a body that fails validation, so the corrected request runs', async () => {
    const svc = await service();
    expectProblem(await post(svc, '/things', 'key-1', { name: '' }), 400);
    expectProblem(await post(svc, '/things', 'key-1', { name: 'a', colour: 'red' }), 400);
    expect((await post(svc, '/things', 'key-1', { name: 'a' })).statusCode).toBe(201);
    expect(runs).toEqual({ things: 1 });
  });

  it('of 5 concurrent first attempts runs exactly one; the others get 409 with Retry-After: 1', async () => {
    const svc = await service();
    const settled: LightMyRequestResponse[] = [];
    const all = Array.from({ length: 5 }, () => post(svc, '/slow', 'race').then((r) => {
        settled.push(r);
        return r;
      }),
    );
    await vi.waitFor(() => expect(settled).toHaveLength(4), { timeout: 5000 }); // the losers answer at once
    expect(runs.slow).toBe(1);
    for (const loser of settled) {
      expectProblem(loser, 409, /still being processed/);
      expect(loser.headers['retry-after']).toBe('1');
    }
    slowGate.open();
    const results = await Promise.all(all);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409]);
    const winner = results.find((r) => r.statusCode === 201);
    if (!winner) throw new Error('no winner');
    expectReplayOf(await post(svc, '/slow', 'race'), winner); // the retry of a loser
    expect(runs.slow).toBe(1);
  });

  it('decides the race in the database: replicas sharing it run a key once', async () => {
    const replicas = await Promise.all([service(), service(), service()]); // each creates the table
    const settled: LightMyRequestResponse[] = [];
    const all = replicas
      .flatMap((r) => [post(r, '/slow', 'shared'), post(r, '/slow', 'shared')])
      .map((p) =>
        p.then((r) => {
          settled.push(r);
          return r;
        }),
      );
    // Every loser has answered before the winner may finish (a later one would get a replay).
    await vi.waitFor(() => expect(settled).toHaveLength(5), { timeout: 5000 });
    expect(runs.slow).toBe(1);
    slowGate.open();
    const results = await Promise.all(all);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.statusCode === 201);
    if (!winner) throw new Error('no winner');
    for (const r of replicas) expectReplayOf(await post(r, '/slow', 'shared'), winner);
    expect(runs.slow).toBe(1);
  });

  it('does not record a 5xx or a thrown error: the retry runs, then its answer is replayed', async () => {
    const store = await database.open();
    const svc = await service(store);
    flakyFailures = 1;
    expectProblem(await post(svc, '/flaky', 'key-1'), 500);
    expect(await rowCount(store)).toBe(0);
    const second = await post(svc, '/flaky', 'key-1');
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ run: 2 });
    expectReplayOf(await post(svc, '/flaky', 'key-1'), second);

    expectProblem(await post(svc, '/unavailable', 'key-2'), 503);
    expectProblem(await post(svc, '/unavailable', 'key-2'), 503);
    expect(runs).toEqual({ flaky: 2, unavailable: 2 });
  });

  it('records a 4xx the handler answered and replays it', async () => {
    const svc = await service();
    const first = await post(svc, '/refuse', 'key-1');
    expectProblem(first, 409, /refused on run 1/);
    const again = await post(svc, '/refuse', 'key-1');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual(first.json());
    expect(runs.refuse).toBe(1);
  });

  it('replays after a restart: a new service on the same database', async () => {
    const before = await service();
    const first = await post(before, '/things', 'key-1', { name: 'a' });
    await before.stop();
    const after = await service();
    expectReplayOf(await post(after, '/things', 'key-1', { name: 'a' }), first);
    expect(runs.things).toBe(1);
  });

  it('keeps a response for the TTL; after it the key is free again', async () => {
    const svc = await service();
    const first = await post(svc, '/things', 'key-1', { name: 'a' });
    clock.advance(TTL - 1);
    expectReplayOf(await post(svc, '/things', 'key-1', { name: 'a' }), first);
    clock.advance(1);
    const later = await post(svc, '/things', 'key-1', { name: 'b' });
    expect(later.statusCode).toBe(201);
    expect(later.json()).toMatchObject({ run: 2, name: 'b' });
    expect(later.headers['idempotent-replayed']).toBeUndefined();
  });

  it('lets a claim left by a dead process be taken over once its lease has run out', async () => {
    const store = await database.open();
    const svc = await service(store);
    // What a process that died mid-request leaves behind: a running claim, never finished.
    const dead = new IdempotencyStore(store, { clock, ttlMs: TTL, leaseMs: LEASE });
    expect(await dead.claim('key-1', requestFingerprint('POST', '/things', { name: 'a' }))).toMatchObject({
      kind: 'claimed',
    });
    expectProblem(await post(svc, '/things', 'key-1', { name: 'a' }), 409);
    clock.advance(LEASE - 1);
    expectProblem(await post(svc, '/things', 'key-1', { name: 'a' }), 409);
    clock.advance(1);
    const taken = await post(svc, '/things', 'key-1', { name: 'a' });
    expect(taken.statusCode).toBe(201);
    expectReplayOf(await post(svc, '/things', 'key-1', { name: 'a' }), taken);
    expect(runs.things).toBe(1);
  });

  it('keeps the answer of the attempt that took over, not the late one of the stale owner', async () => {
    const svc = await service();
    const stale = post(svc, '/slow', 'key-1');
    await vi.waitFor(() => expect(runs.slow).toBe(1), { timeout: 5000 });
    clock.advance(LEASE);
    const takeover = post(svc, '/slow', 'key-1');
    await vi.waitFor(() => expect(runs.slow).toBe(2), { timeout: 5000 });
    slowGate.open();
    const [late, fresh] = await Promise.all([stale, takeover]);
    expect(late.json()).toEqual({ run: 1 }); // its client still gets its answer
    expect(fresh.json()).toEqual({ run: 2 });
    expectReplayOf(await post(svc, '/slow', 'key-1'), fresh);
  });

  it('leaves other methods alone', async () => {
    const svc = await service();
    const put = () =>
      svc.app.inject({ method: 'PUT', url: '/things/1', headers: { 'idempotency-key': 'key-1' } });
    expect((await put()).json()).toEqual({ run: 1 });
    const second = await put();
    expect(second.json()).toEqual({ run: 2 });
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect((await svc.app.inject({ method: 'GET', url: '/health/live', headers: { 'idempotency-key': '' } })).statusCode).toBe(200);
  });
});
