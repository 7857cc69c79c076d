import { Writable } from 'node:stream';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceApp } from '../service/create-app.js';
import type { ServiceApp } from '../service/types.js';
import { createLogger } from './logger.js';

type Line = Record<string, unknown>;

const apps: ServiceApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** An app logging JSON lines into an array, as pino writes them. */
function build(): { app: ServiceApp; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const app = createServiceApp({
    logger: createLogger({ destination }),
    logBindings: { service: 'user-service', instance: 'i-1' },
  });
  apps.push(app);
  app.post(
    '/things/:id',
    { schema: { body: Type.Object({ password: Type.String() }, { additionalProperties: false }) } },
    async (request, reply) => {
      // What a careless handler might log: every one of these must come out redacted.
      request.log.info({ body: request.body, headers: request.headers, upstream: { headers: request.headers } }, 'handling');
      return reply.code(201).send({ ok: true });
    },
  );
  app.get('/boom', async () => {
    throw new Error('broken');
  });
  return { app, lines };
}

const SECRET = 's3cret-hunter2';
const accessLines = (lines: Line[]) => lines.filter((l) => l.msg === 'request completed');

describe('request logging', () => {
  it('writes one access line per request, with reqId, route template, status and duration', async () => {
    const { app, lines } = build();
    const ok = await app.inject({
      method: 'POST',
      url: '/things/42?token=abc',
      payload: { password: SECRET },
      headers: { 'x-request-id': 'req-ok' },
    });
    expect(ok.statusCode).toBe(201);
    const missing = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'req-404' } });
    expect(missing.statusCode).toBe(404);
    const failed = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'req-500' } });
    expect(failed.statusCode).toBe(500);

    const access = accessLines(lines);
    expect(access).toHaveLength(3);
    expect(access[0]).toMatchObject({
      level: 30,
      service: 'user-service',
      instance: 'i-1',
      reqId: 'req-ok',
      method: 'POST',
      path: '/things/42',
      route: '/things/:id',
      statusCode: 201,
      durationMs: expect.any(Number),
    });
    expect(access[1]).toMatchObject({ reqId: 'req-404', route: 'not_found', statusCode: 404 });
    expect(access[2]).toMatchObject({ reqId: 'req-500', route: '/boom', statusCode: 500 });
    // Fastify's own pair of lines is off; every line of a request carries its id and the bindings.
    expect(lines.filter((l) => l.msg === 'incoming request')).toEqual([]);
    for (const l of lines) expect(l).toMatchObject({ service: 'user-service', instance: 'i-1' });
    expect(lines.filter((l) => l.reqId === 'req-ok').map((l) => l.msg)).toEqual(['handling', 'request completed']);
  });

  it('logs scrapes at debug: below the default level', async () => {
    const { app, lines } = build();
    await app.inject({ method: 'GET', url: '/metrics' });
    expect(accessLines(lines)).toEqual([]);
  });

  it('never logs a body, a query string, an authorization or a cookie header', async () => {
    const { app, lines } = build();
    await app.inject({
      method: 'POST',
      url: `/things/1?token=${SECRET}`,
      payload: { password: SECRET },
      headers: { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}`, 'x-request-id': 'req-1' },
    });
    const handling = lines.find((l) => l.msg === 'handling');
    expect(handling).toMatchObject({
      body: '[redacted]',
      headers: { authorization: '[redacted]', cookie: '[redacted]' },
      upstream: { headers: { authorization: '[redacted]', cookie: '[redacted]' } },
    });
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('puts the traceId of the request on every line when a trace came with it, and nothing when none did', async () => {
    const { app, lines } = build();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await app.inject({
      method: 'POST',
      url: '/things/1',
      payload: { password: 'x' },
      headers: { 'x-request-id': 'traced', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    await app.inject({ method: 'POST', url: '/things/2', payload: { password: 'x' }, headers: { 'x-request-id': 'plain' } });

    const traced = lines.filter((l) => l.reqId === 'traced');
    expect(traced.map((l) => l.msg)).toEqual(['handling', 'request completed']);
    // No tracing SDK runs here: the id comes from the caller's traceparent (the SDK case is in tracing.test.ts).
    for (const l of traced) expect(l).toMatchObject({ traceId });
    const plain = lines.filter((l) => l.reqId === 'plain');
    expect(plain).toHaveLength(2);
    for (const l of plain) expect(l).not.toHaveProperty('traceId');
  });
});
