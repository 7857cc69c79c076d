import { Writable } from 'node:stream';
import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceApp } from '../service/create-app.js';
import type { ServiceApp } from '../service/types.js';
import { ACCESS_LINE_MESSAGE, accessLine, accessLineWriter, appLogger } from './access-log.js';
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

describe('accessLineWriter', () => {
  /** A logger like the gateway's (createLogger, then the app's bindings) writing raw lines into an array. */
  function logger(level = 'info') {
    const raw: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        raw.push(...String(chunk).split(/(?<=\n)/));
        done();
      },
    });
    const log = appLogger(createLogger({ level, name: 'meshkit', destination }), { part: 'gateway', instance: 'i-1' });
    return { raw, log };
  }
  const sameTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');

  it("writes the same bytes pino's own info line does, for the same request", () => {
    const { raw, log } = logger();
    const write = accessLineWriter(log);
    write('req-1', 'GET', '/products/a%22b?token=secret', '/products/*', 200, 1.26);
    log.info({ reqId: 'req-1', ...accessLine('GET', '/products/a%22b?token=secret', '/products/*', 200, 1.26) }, ACCESS_LINE_MESSAGE);
    write('id "quoted"\\', 'HEAD', '/odd"path\\', '/odd', 503, 0.04);
    log.info({ reqId: 'id "quoted"\\', ...accessLine('HEAD', '/odd"path\\', '/odd', 503, 0.04) }, ACCESS_LINE_MESSAGE);
    expect(raw).toHaveLength(4);
    expect(sameTime(raw[0] ?? '')).toBe(sameTime(raw[1] ?? ''));
    expect(sameTime(raw[2] ?? '')).toBe(sameTime(raw[3] ?? ''));
    expect(JSON.parse(raw[0] ?? '')).toMatchObject({
      level: 30,
      name: 'meshkit',
      part: 'gateway',
      reqId: 'req-1',
      path: '/products/a%22b',
      statusCode: 200,
      durationMs: 1.3,
      msg: 'request completed',
    });
  });

  it('hands an ASCII line to a destination that takes ASCII apart (writeAscii), any other to write', () => {
    /** A destination like `LineBuffer`, noting which way each line came. */
    function twoWays() {
      const ascii: string[] = [];
      const any: string[] = [];
      const destination = Object.assign(
        new Writable({
          write(chunk, _enc, done) {
            any.push(String(chunk));
            done();
          },
        }),
        { writeAscii: (line: string) => ascii.push(line) },
      );
      return { ascii, any, destination };
    }
    const { ascii, any, destination } = twoWays();
    const log = appLogger(createLogger({ level: 'info', name: 'meshkit', destination }), { part: 'gateway' });
    const write = accessLineWriter(log);
    write('req-1', 'GET', '/products/1?q=1', '/products/*', 200, 0.5);
    write('req-2', 'GET', '/products/caf\u00e9', '/products/*', 200, 0.5);
    write('req-"3"', 'GET', '/products/3', '/products/*', 200, 0.5);
    log.info({ reqId: 'req-1', ...accessLine('GET', '/products/1?q=1', '/products/*', 200, 0.5) }, ACCESS_LINE_MESSAGE);
    expect(ascii).toHaveLength(1);
    expect(any).toHaveLength(3);
    // Byte for byte what pino writes for the same request.
    expect(sameTime(ascii[0] ?? '')).toBe(sameTime(any[2] ?? ''));
    expect(JSON.parse(any[0] ?? '')).toMatchObject({ reqId: 'req-2', path: '/products/café' });
    expect(JSON.parse(any[1] ?? '')).toMatchObject({ reqId: 'req-"3"', path: '/products/3' });

    // Bindings that are not ASCII: every line goes to write.
    const other = twoWays();
    const named = appLogger(createLogger({ level: 'info', name: 'méshkit', destination: other.destination }), {});
    accessLineWriter(named)('req-1', 'GET', '/products/1', '/products/*', 200, 0.5);
    expect(other.ascii).toHaveLength(0);
    expect(JSON.parse(other.any[0] ?? '')).toMatchObject({ name: 'méshkit', reqId: 'req-1' });
  });

  it('follows the level while the process runs', () => {
    const { raw, log } = logger('warn');
    const write = accessLineWriter(log);
    write('req-1', 'GET', '/a', '/a', 200, 1);
    expect(raw).toHaveLength(0);
    (log as unknown as { level: string }).level = 'info';
    write('req-2', 'GET', '/a', '/a', 200, 1);
    expect(raw).toHaveLength(1);
  });

  it("falls back to the logger's info for a logger meshkit did not make", () => {
    const calls: unknown[][] = [];
    const foreign = { info: (...args: unknown[]) => calls.push(args) } as unknown as Parameters<typeof accessLineWriter>[0];
    accessLineWriter(foreign)('req-1', 'GET', '/a?b=c', '/a', 404, 2);
    expect(calls).toEqual([
      [{ reqId: 'req-1', method: 'GET', path: '/a', route: '/a', statusCode: 404, durationMs: 2 }, ACCESS_LINE_MESSAGE],
    ]);
  });
});
