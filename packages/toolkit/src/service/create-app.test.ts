import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import { createServiceApp } from './create-app.js';
import type { ServiceApp } from './types.js';

const apps: ServiceApp[] = [];
function build(options: Parameters<typeof createServiceApp>[0] = {}): ServiceApp {
  const app = createServiceApp({ logger: false, ...options });
  apps.push(app);
  app.post(
    '/things',
    {
      schema: {
        body: Type.Object(
          { n: Type.Integer(), email: Type.Optional(Type.String({ format: 'email' })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => reply.code(201).send({ n: request.body.n, type: typeof request.body.n }),
  );
  app.get(
    '/things',
    { schema: { querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
    async (request) => ({ limit: request.query.limit ?? null, type: typeof request.query.limit }),
  );
  app.get('/things/:id', { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } }, async (r) => ({
    id: r.params.id,
  }));
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function expectProblem(res: { headers: Record<string, unknown>; json(): unknown }, status: number) {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['x-request-id']).toEqual(expect.any(String));
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  return body;
}

describe('validation', () => {
  it('accepts a valid body and keeps its types', async () => {
    const res = await build().inject({ method: 'POST', url: '/things', payload: { n: 12, email: 'a@b.example' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ n: 12, type: 'number' });
  });

  it('does not coerce a string to an integer in a body', async () => {
    const res = await build().inject({ method: 'POST', url: '/things', payload: { n: '12' } });
    expect(res.statusCode).toBe(400);
    const body = expectProblem(res, 400);
    expect(body.type).toBe('urn:meshkit:problem:validation-failed');
    expect(body.errors).toEqual([{ instancePath: '/n', message: 'must be integer' }]);
  });

  it('refuses an unknown body property, naming it', async () => {
    const res = await build().inject({ method: 'POST', url: '/things', payload: { n: 1, admin: true } });
    const body = expectProblem(res, 400);
    expect(body.errors).toEqual([{ instancePath: '', message: 'must NOT have additional property "admin"' }]);
    expect(body.detail).toContain('admin');
  });

  it('checks formats', async () => {
    const app = build();
    const bad = await app.inject({ method: 'POST', url: '/things', payload: { n: 1, email: 'not-an-email' } });
    expect(bad.statusCode).toBe(400);
    const badId = await app.inject({ method: 'GET', url: '/things/123' });
    expect(badId.statusCode).toBe(400);
    const goodId = await app.inject({ method: 'GET', url: '/things/0190a5a0-0000-7000-8000-000000000000' });
    expect(goodId.statusCode).toBe(200);
  });

  it('coerces querystring values, which are strings by nature', async () => {
    const app = build();
    const res = await app.inject({ method: 'GET', url: '/things?limit=10' });
    expect(res.json()).toEqual({ limit: 10, type: 'number' });
    const bad = await app.inject({ method: 'GET', url: '/things?limit=ten' });
    expectProblem(bad, 400);
  });
});

describe('request errors', () => {
  it('answers 413 to a body one byte over the limit', async () => {
    const app = build();
    const limit = 1024 * 1024;
    const payload = `{"n":1,"email":"${'a'.repeat(limit - 17)}"}`;
    expect(Buffer.byteLength(payload)).toBe(limit + 1);
    const res = await app.inject({ method: 'POST', url: '/things', payload, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(413);
    expect(expectProblem(res, 413).type).toBe('urn:meshkit:problem:payload-too-large');
  });

  it('honours a smaller body limit', async () => {
    const res = await build({ bodyLimit: 10 }).inject({ method: 'POST', url: '/things', payload: { n: 123456789 } });
    expect(res.statusCode).toBe(413);
  });

  it('answers 415 to text/plain on a JSON route', async () => {
    const res = await build().inject({
      method: 'POST',
      url: '/things',
      payload: 'n=1',
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.statusCode).toBe(415);
    expect(expectProblem(res, 415).detail).toContain('text/plain');
  });

  it('answers 400 to malformed and to empty JSON', async () => {
    const app = build();
    const headers = { 'content-type': 'application/json' };
    const bad = await app.inject({ method: 'POST', url: '/things', payload: '{"n":', headers });
    expect(bad.statusCode).toBe(400);
    expect(expectProblem(bad, 400).type).toBe('urn:meshkit:problem:bad-request');
    const empty = await app.inject({ method: 'POST', url: '/things', payload: '', headers });
    expectProblem(empty, 400);
  });

  it('answers 404 problem+json with a request id to an unknown route', async () => {
    const res = await build().inject({ method: 'GET', url: '/nowhere?x=1' });
    expect(res.statusCode).toBe(404);
    const body = expectProblem(res, 404);
    expect(body).toMatchObject({ type: 'urn:meshkit:problem:not-found', instance: '/nowhere' });
  });
});

describe('request ids', () => {
  it('echoes a sane x-request-id, on successes and errors', async () => {
    const app = build();
    const ok = await app.inject({ method: 'GET', url: '/things', headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const missing = await app.inject({ method: 'GET', url: '/missing', headers: { 'x-request-id': 'abc-456' } });
    expect(missing.headers['x-request-id']).toBe('abc-456');
  });

  it('replaces a missing, empty, spaced or overlong id with a fresh UUID', async () => {
    const app = build();
    const ids = new Set<string>();
    for (const sent of [undefined, '', 'has space', 'x'.repeat(201)]) {
      const headers: Record<string, string> = sent === undefined ? {} : { 'x-request-id': sent };
      const res = await app.inject({ method: 'GET', url: '/things', headers });
      const id = String(res.headers['x-request-id']);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(4);
    const longest = 'y'.repeat(200);
    const kept = await app.inject({ method: 'GET', url: '/things', headers: { 'x-request-id': longest } });
    expect(kept.headers['x-request-id']).toBe(longest);
  });
});

describe('CORS', () => {
  const preflight = (origin: string) => ({
    method: 'OPTIONS' as const,
    url: '/things',
    headers: { origin, 'access-control-request-method': 'POST' },
  });

  it('gives no cross-origin access without an allow-list', async () => {
    const app = build();
    const res = await app.inject({ method: 'GET', url: '/things', headers: { origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await app.inject(preflight('https://evil.example'));
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows only the listed origins', async () => {
    const app = build({ corsOrigins: ['https://shop.example'], corsCredentials: true });
    const ok = await app.inject({ method: 'GET', url: '/things', headers: { origin: 'https://shop.example' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    const pre = await app.inject(preflight('https://shop.example'));
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://shop.example');
    const other = await app.inject({ method: 'GET', url: '/things', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows * without credentials', async () => {
    const app = build({ corsOrigins: ['*'] });
    const res = await app.inject({ method: 'GET', url: '/things', headers: { origin: 'https://any.example' } });
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('refuses * with credentials', () => {
    expect(() => createServiceApp({ logger: false, corsOrigins: ['*'], corsCredentials: true })).toThrow(ConfigError);
  });
});
