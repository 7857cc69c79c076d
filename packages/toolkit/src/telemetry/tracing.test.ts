import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testInstance } from '../../../../test/support/instances.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../../../../test/support/otlp-receiver.js';
import { ServiceClient } from '../client/service-client.js';
import { StaticInstanceSource } from '../discovery/instance-source.js';
import type { ServiceInstance } from '../registry/instance.js';
import { createServiceApp } from '../service/create-app.js';
import type { ServiceApp } from '../service/types.js';
import { createLogger } from './logger.js';
import { startTracing, type Tracing } from './tracing.js';

const FRONT = 'front-service';
const BACK = 'back-service';
const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_PARENT_ID = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_PARENT_ID}-01`;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A meshkit app of `service` on a free port, and the instance it would register. */
async function serve(service: string, routes: (app: ServiceApp) => void): Promise<ServiceInstance> {
  const id = randomUUID();
  const app = createServiceApp({ logger: false, logBindings: { service, instance: id }, apiDocs: false });
  routes(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const { port } = app.server.address() as AddressInfo;
  return testInstance(service, port, { id });
}

/** The back service: echoes the trace headers it got; `/fail` throws (a 500). */
function backRoutes(app: ServiceApp): void {
  app.get('/seen', async (req) => ({ traceparent: req.headers.traceparent, tracestate: req.headers.tracestate }));
  app.get('/fail', async () => {
    throw new Error('boom');
  });
}

/** The front service: calls the back one for each request, passing its trace context on. */
async function front(backs: ServiceInstance[], maxAttempts = 1): Promise<string> {
  const client = new ServiceClient({ source: new StaticInstanceSource(backs), retry: { maxAttempts } });
  cleanups.push(() => client.close());
  const instance = await serve(FRONT, (app) => {
    app.get('/call', async (req, reply) => {
      const traceparent = req.headers.traceparent;
      const { path = '/seen' } = req.query as { path?: string };
      const res = await client.call(BACK, {
        method: 'GET',
        path,
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
        traceContext: req.traceContext,
      });
      reply.code(res.status);
      return res.body;
    });
  });
  return `http://127.0.0.1:${instance.port}`;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('tracing off (no SDK installed)', () => {
  it('passes the incoming traceparent and tracestate on unchanged', async () => {
    const back = await serve(BACK, backRoutes);
    const url = await front([back]);
    const res = await get(`${url}/call`, { traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=a' });
    expect(res.status).toBe(200);
    // `call` sends ServiceRequest.traceparent; a raw tracestate is not part of ServiceRequest.
    expect(res.body).toEqual({ traceparent: CLIENT_TRACEPARENT });
  });

  it('sends no traceparent when the caller had none', async () => {
    const back = await serve(BACK, backRoutes);
    const url = await front([back]);
    expect((await get(`${url}/call`)).body).toEqual({});
  });
});

describe('tracing on', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
    tracing = startTracing({ serviceName: 'test-process', endpoint: receiver.url });
    cleanups.push(() => receiver.close(), () => tracing.shutdown());
  });

  /** Flushes every span to the receiver. */
  async function spans(): Promise<ReceivedSpan[]> {
    await tracing.shutdown();
    expect(receiver.refused).toEqual([]);
    return receiver.spans;
  }

  function one(all: ReceivedSpan[], service: string, kind: ReceivedSpan['kind']): ReceivedSpan {
    const found = all.filter((s) => s.service === service && s.kind === kind);
    expect(found, `${kind} spans of ${service}`).toHaveLength(1);
    return found[0] as ReceivedSpan;
  }

  it('allows one per process', () => {
    expect(() => startTracing({ serviceName: 'again', endpoint: receiver.url })).toThrow(/already started/);
  });

  it('makes SERVER → CLIENT → SERVER spans under the caller’s trace, each under its service’s name', async () => {
    const back = await serve(BACK, backRoutes);
    const url = await front([back]);
    const res = await get(`${url}/call?x=1`, { traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=a' });
    expect(res.status).toBe(200);

    const all = await spans();
    expect(all).toHaveLength(3);
    const frontServer = one(all, FRONT, 'server');
    const client = one(all, FRONT, 'client');
    const backServer = one(all, BACK, 'server');
    for (const s of all) expect(s.traceId).toBe(CLIENT_TRACE_ID);

    expect(frontServer).toMatchObject({ name: 'GET /call', parentSpanId: CLIENT_PARENT_ID, status: 'unset' });
    expect(frontServer.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/call',
      'url.path': '/call',
      'http.response.status_code': 200,
      'meshkit.service': FRONT,
    });
    expect(frontServer.attributes['meshkit.instance']).toEqual(expect.any(String));
    expect(frontServer.attributes['url.path']).not.toContain('x=1');

    expect(client).toMatchObject({ name: `GET ${BACK}`, parentSpanId: frontServer.spanId, status: 'unset' });
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': back.port,
      'peer.service': BACK,
      'meshkit.instance': back.id,
      'meshkit.attempt': 1,
      'http.response.status_code': 200,
    });
    expect(client.attributes['http.request.resend_count']).toBeUndefined();

    expect(backServer).toMatchObject({ name: 'GET /seen', parentSpanId: client.spanId });
    expect(backServer.attributes['meshkit.instance']).toBe(back.id);
    // What went over the wire names the client span, and keeps the caller's tracestate.
    expect(res.body).toEqual({ traceparent: `00-${CLIENT_TRACE_ID}-${client.spanId}-01`, tracestate: 'vendor=a' });
  });

  it('starts a new trace when the caller sent none, or an invalid one', async () => {
    const back = await serve(BACK, backRoutes);
    const url = await front([back]);
    await get(`${url}/call`);
    await get(`${url}/call`, { traceparent: `00-${'0'.repeat(32)}-${CLIENT_PARENT_ID}-01` });
    const roots = (await spans()).filter((s) => s.service === FRONT && s.kind === 'server');
    expect(roots).toHaveLength(2);
    for (const root of roots) expect(root.parentSpanId).toBeUndefined();
    expect(roots[0]?.traceId).not.toBe(roots[1]?.traceId);
  });

  it('logs the trace and span ids of the request on its lines', async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const app = createServiceApp({ logger: createLogger({ destination }), logBindings: { service: FRONT, instance: 'i-1' }, apiDocs: false });
    app.get('/hello', async () => ({ hello: 'world' }));
    cleanups.push(() => app.close());
    await app.inject({ method: 'GET', url: '/hello', headers: { 'x-request-id': 'r-1' } });

    const server = one(await spans(), FRONT, 'server');
    const access = lines.find((l) => l.msg === 'request completed');
    expect(access).toMatchObject({ reqId: 'r-1', traceId: server.traceId, spanId: server.spanId });
  });

  it('makes one CLIENT span per attempt, retries numbered, each a child of the request', async () => {
    let answered = 0;
    const flaky = (app: ServiceApp) =>
      app.get('/seen', async (_req, reply) => {
        answered += 1;
        if (answered === 1) reply.code(503);
        return {};
      });
    const backs = [await serve(BACK, flaky), await serve(BACK, flaky)];
    const url = await front(backs, 2);
    expect((await get(`${url}/call`)).status).toBe(200);

    const all = await spans();
    const server = one(all, FRONT, 'server');
    const attempts = all
      .filter((s) => s.kind === 'client')
      .sort((a, b) => Number(a.attributes['meshkit.attempt']) - Number(b.attributes['meshkit.attempt']));
    expect(attempts.map((s) => s.parentSpanId)).toEqual([server.spanId, server.spanId]);
    expect(attempts.map((s) => s.attributes['http.response.status_code'])).toEqual([503, 200]);
    expect(attempts.map((s) => s.status)).toEqual(['error', 'unset']);
    expect(attempts.map((s) => s.attributes['http.request.resend_count'])).toEqual([undefined, 1]);
    expect(new Set(attempts.map((s) => s.attributes['meshkit.instance']))).toEqual(new Set(backs.map((b) => b.id)));
    const backServers = all.filter((s) => s.service === BACK && s.kind === 'server');
    expect(backServers.map((s) => s.parentSpanId).sort()).toEqual(attempts.map((s) => s.spanId).sort());
  });

  it('marks a 5xx as an error on both sides, and a refused connection on the client', async () => {
    const back = await serve(BACK, backRoutes);
    const gone = { ...(await serve(BACK, () => undefined)) };
    await cleanups.pop()?.(); // closed: its port refuses connections
    const url = await front([back]);
    expect((await get(`${url}/call?path=/fail`)).status).toBe(500);
    const refusedUrl = await front([gone]);
    expect((await get(`${refusedUrl}/call`)).status).toBe(502);

    const all = await spans();
    const failed = all.filter((s) => s.attributes['http.route'] === '/fail');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ service: BACK, status: 'error' });
    expect(failed[0]?.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' });
    const clients = all.filter((s) => s.kind === 'client');
    expect(clients.map((s) => [s.status, s.attributes['error.type']]).sort()).toEqual([
      ['error', '500'],
      ['error', 'ECONNREFUSED'],
    ]);
  });

  it('runs handlers inside the request’s context, after the body was read', async () => {
    const seen: boolean[] = [];
    const instance = await serve(FRONT, (app) => {
      app.post('/in-context', async (req) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const active = trace.getSpan(context.active())?.spanContext().spanId;
        seen.push(active !== undefined && active === trace.getSpan(req.traceContext)?.spanContext().spanId);
        return { ok: true };
      });
    });
    const res = await request(`http://127.0.0.1:${instance.port}/in-context`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(seen).toEqual([true]);
  });

  it('makes no spans for scrapes and probes, and names an unmatched request by its method', async () => {
    const instance = await serve(FRONT, () => undefined);
    const base = `http://127.0.0.1:${instance.port}`;
    for (const path of ['/metrics', '/nowhere']) await (await request(`${base}${path}`)).body.dump();
    const all = await spans();
    expect(all.map((s) => [s.name, s.attributes['url.path'], s.attributes['http.response.status_code']])).toEqual([
      ['GET', '/nowhere', 404],
    ]);
    expect(all[0]?.attributes['http.route']).toBeUndefined();
  });

  it('ends the span of a request whose client went away, as an error', async () => {
    let reached!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const instance = await serve(FRONT, (app) => {
      app.get('/slow', async (_req, reply) => {
        reached();
        await new Promise((resolve) => reply.raw.once('close', resolve));
        return { late: true };
      });
    });
    const abort = new AbortController();
    const pending = request(`http://127.0.0.1:${instance.port}/slow`, { signal: abort.signal }).catch(() => 'aborted');
    await inHandler;
    abort.abort();
    expect(await pending).toBe('aborted');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const all = await spans();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ name: 'GET /slow', status: 'error' });
    expect(all[0]?.attributes['error.type']).toBe('connection_closed');
  });
});
