import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshError } from '../errors.js';
import { createLogger } from '../telemetry/logger.js';
import { createServiceApp } from './create-app.js';
import { problemBody } from './problem.js';
import type { ServiceApp } from './types.js';

const apps: ServiceApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** An app whose routes throw, and the log lines it wrote. */
function throwingApp() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = createServiceApp({ logger: createLogger({ level: 'info', destination }) });
  apps.push(app);
  app.get('/plain', async () => {
    throw new Error('secret connection string postgres://u:p@db');
  });
  app.get('/conflict', async () => {
    throw new MeshError('CONFLICT', 'email already taken', { extensions: { field: 'email' } });
  });
  app.get('/busy', async () => {
    throw new MeshError('NO_HEALTHY_INSTANCE', 'no instance of user-service', { retryAfter: 2.5 });
  });
  app.get('/unauthorized', async () => {
    throw Object.assign(new Error('token expired'), { statusCode: 401 });
  });
  app.get('/gone', async () => {
    throw Object.assign(new Error('nothing here'), { statusCode: 404 });
  });
  app.get('/upstream', async () => {
    throw Object.assign(new Error('internal detail'), { statusCode: 503 });
  });
  return { app, lines };
}

describe('problemBody', () => {
  it('builds an RFC 9457 document whose standard members extensions cannot overwrite', () => {
    expect(problemBody(409, 'Conflict', 'taken', 'urn:x', { status: 200, type: 'bad', field: 'email' })).toEqual({
      type: 'urn:x',
      title: 'Conflict',
      status: 409,
      detail: 'taken',
      field: 'email',
    });
    expect(problemBody(404, 'Not Found', 'no')).toMatchObject({ type: 'about:blank' });
  });
});

describe('error handler', () => {
  it('turns a thrown plain Error into a generic 500 that reveals nothing, and logs it', async () => {
    const { app, lines } = throwingApp();
    const res = await app.inject({ method: 'GET', url: '/plain', headers: { 'x-request-id': 'req-500' } });
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('req-500');
    expect(res.json()).toEqual({
      type: 'urn:meshkit:problem:internal',
      title: 'Internal Server Error',
      status: 500,
      detail: 'The server failed to handle this request',
      instance: '/plain',
    });
    expect(res.body).not.toContain('secret');
    expect(res.body).not.toContain('at ');
    const logged = lines.find((l) => l.msg === 'unhandled error');
    expect(logged).toMatchObject({ level: 50, reqId: 'req-500' });
    expect(JSON.stringify(logged)).toContain('secret connection string');
  });

  it('sends a MeshError with its status, type and extensions', async () => {
    const res = await throwingApp().app.inject({ method: 'GET', url: '/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      type: 'urn:meshkit:problem:conflict',
      title: 'Conflict',
      status: 409,
      detail: 'email already taken',
      instance: '/conflict',
      field: 'email',
    });
  });

  it('sends Retry-After in whole seconds when the error has one', async () => {
    const res = await throwingApp().app.inject({ method: 'GET', url: '/busy' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.json()).toMatchObject({ type: 'urn:meshkit:problem:no-healthy-instance' });
  });

  it('marks a failure of a service further down, and only that, with x-meshkit-upstream-error', async () => {
    const { app } = throwingApp();
    const busy = await app.inject({ method: 'GET', url: '/busy' });
    expect(busy.headers['x-meshkit-upstream-error']).toBe('urn:meshkit:problem:no-healthy-instance');
    for (const url of ['/plain', '/conflict', '/upstream']) {
      expect((await app.inject({ method: 'GET', url })).headers['x-meshkit-upstream-error'], url).toBeUndefined();
    }
  });

  it('keeps the status of another 4xx error', async () => {
    const { app } = throwingApp();
    const unauthorized = await app.inject({ method: 'GET', url: '/unauthorized' });
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.json()).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'token expired' });
    const gone = await app.inject({ method: 'GET', url: '/gone' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ type: 'urn:meshkit:problem:not-found', detail: 'nothing here' });
  });

  it('treats a non-MeshError 5xx as internal', async () => {
    const res = await throwingApp().app.inject({ method: 'GET', url: '/upstream' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('internal detail');
  });
});

describe("what Fastify's router refuses before any route runs", () => {
  /** Over a real connection: the bytes of the path as sent, not a URL an HTTP client would fix up first. */
  async function getRaw(app: ServiceApp, path: string) {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await request(`${address}${path}`, { headers: { 'x-request-id': 'raw-1' } });
    return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
  }

  it('answers a path that is not valid percent-encoding with a 400 problem naming the request', async () => {
    const { app, lines } = throwingApp();
    app.get('/items/:id', async () => ({ ok: true }));
    const res = await getRaw(app, '/items/%zz');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('raw-1');
    expect(res.body).toMatchObject({ type: 'urn:meshkit:problem:bad-request', status: 400, instance: '/items/%zz' });
    expect(lines.find((l) => l.status === 400)).toMatchObject({ reqId: 'raw-1', code: 'BAD_REQUEST' });
    // Counted and logged like any other answer, under the unmatched route.
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^http_requests_total\{method="GET",route="not_found",status_code="400"\} 1$/m);
    expect(lines.find((l) => l.msg === 'request completed')).toMatchObject({ reqId: 'raw-1', path: '/items/%zz', statusCode: 400 });
  });

  it('answers a path parameter over maxParamLength with a 414 problem', async () => {
    const { app } = throwingApp();
    app.get('/items/:id', async () => ({ ok: true }));
    const res = await getRaw(app, `/items/${'a'.repeat(150)}`);
    expect(res.status).toBe(414);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('raw-1');
    expect(res.body).toMatchObject({ type: 'about:blank', title: 'URI Too Long', status: 414 });
  });
});

describe("malformed requests: refused by Node's parser, or by the request-target rules", () => {
  async function portOf(app: ServiceApp): Promise<number> {
    return Number(new URL(await app.listen({ port: 0, host: '127.0.0.1' })).port);
  }

  /** Sends `raw` on a new connection; the answer, read until the server closes it. */
  async function exchangeRaw(port: number, raw: string): Promise<{ head: string; body: Record<string, unknown> | undefined }> {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => {});
    socket.write(raw, 'latin1');
    await once(socket, 'close');
    const [head = '', body = ''] = text.split('\r\n\r\n');
    return { head, body: body === '' ? undefined : JSON.parse(body) };
  }

  it('answers bytes that are not HTTP/1.1 with a 400 problem and a request id, then closes', async () => {
    const { app, lines } = throwingApp();
    const { head, body } = await exchangeRaw(await portOf(app), 'GET /plain HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toMatch(/\r\nContent-Type: application\/problem\+json/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    const id = /\r\nX-Request-Id: ([0-9a-f-]{36})/.exec(head)?.[1];
    expect(id).toBeDefined();
    expect(body).toMatchObject({ type: 'urn:meshkit:problem:bad-request', status: 400 });
    expect(String(body?.detail)).toMatch(/^The request is not valid HTTP\/1\.1 \(.+\)$/);
    expect(lines.find((l) => l.reqId === id)).toMatchObject({ status: 400, code: 'HPE_INVALID_HEADER_TOKEN' });
  });

  it('answers a head larger than the server takes with a 431 problem', async () => {
    const { app } = throwingApp();
    const { head, body } = await exchangeRaw(await portOf(app), `GET /plain HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(body).toMatchObject({ type: 'about:blank', title: 'Request Header Fields Too Large', status: 431 });
  });

  it('answers HTTP/1.1 without Host with a 400 problem from the app, its request id and access line, then closes', async () => {
    const { app, lines } = throwingApp();
    app.get('/fine', async () => ({ ok: true }));
    const port = await portOf(app);
    const { head, body } = await exchangeRaw(port, 'GET /fine HTTP/1.1\r\nx-request-id: no-host\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toMatch(/\r\nx-request-id: no-host(\r\n|$)/);
    expect(head).toMatch(/\r\nconnection: close(\r\n|$)/i);
    expect(body).toMatchObject({ type: 'urn:meshkit:problem:bad-request', detail: 'An HTTP/1.1 request must carry a Host header' });
    expect(lines.find((l) => l.reqId === 'no-host' && l.statusCode === 400)).toBeDefined();
    // HTTP/1.0 has no Host requirement.
    const old = await exchangeRaw(port, 'GET /fine HTTP/1.0\r\n\r\n');
    expect(old.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old.body).toEqual({ ok: true });
  });

  it('answers the asterisk form with any method but OPTIONS with a 400 problem, not the root route', async () => {
    const { app } = throwingApp();
    app.get('/', async () => ({ root: true }));
    const { head, body } = await exchangeRaw(await portOf(app), 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(body).toMatchObject({ type: 'urn:meshkit:problem:bad-request', detail: 'The target "*" is only for OPTIONS' });
  });
});
