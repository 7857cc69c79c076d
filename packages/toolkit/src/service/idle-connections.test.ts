import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOnFreePort } from '../../../../test/support/listen.js';
import { createServiceApp } from './create-app.js';
import { installEdge } from './edge/edge.js';
import type { EdgeRequest } from './edge/edge-request.js';
import type { EdgeResponse } from './edge/edge-response.js';
import { closeIdleConnections } from './idle-connections.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A keep-alive client on one raw connection: what it was answered, and whether the server closed it. */
async function connection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  let received = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('close', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  return {
    /** Sends a GET and waits for its whole answer (the server ends each body with "done"). */
    async get(path: string) {
      const before = received.length;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
      while (!received.slice(before).endsWith('done')) {
        if (closed) throw new Error('closed before the answer');
        await sleep(5);
      }
      return received.slice(before);
    },
    closed: () => closed,
  };
}

/** "done", after `?wait=ms` for a slow request. */
function answer(url: string, res: { end(body: string): unknown }): void {
  const wait = Number(new URL(url, 'http://x').searchParams.get('wait') ?? 0);
  setTimeout(() => res.end('done'), wait);
}

/**
 * A plain Node server answering `answer`, its idle connections swept; with `edge`, the edge in
 * front of it answers every request itself (its connections are swept alike).
 */
async function server(idleMs: number, edge = false) {
  const s = http.createServer((req, res) => answer(req.url ?? '/', res));
  if (edge) {
    const take = (req: EdgeRequest, res: EdgeResponse) => {
      answer(req.url, { end: (body: string) => res.writeHead(200, { 'content-length': String(body.length) }).end(body) });
      return true;
    };
    installEdge(s, { front: { take }, keepAliveMs: idleMs });
  }
  closeIdleConnections(s, { idleMs, sweepEveryMs: 20 });
  return listenOnFreePort(s, cleanups);
}

describe.each([
  ["Node's server", false],
  ['the edge', true],
])('closing idle keep-alive connections of %s by a sweep', (_name, edge) => {
  const serve = (idleMs: number) => server(idleMs, edge);

  it('closes a connection idle for idleMs, not before', async () => {
    const port = await serve(300);
    const c = await connection(port);
    await c.get('/');
    await sleep(150);
    expect(c.closed()).toBe(false);
    await sleep(400); // 300 ms idle + a sweep, with room for a busy machine
    expect(c.closed()).toBe(true);
  });

  it('keeps a connection that is in use, and one whose request is still being answered', async () => {
    const port = await serve(200);
    const busy = await connection(port);
    for (let i = 0; i < 6; i++) {
      await busy.get('/');
      await sleep(100);
    }
    expect(busy.closed()).toBe(false);
    // No byte moves for 600 ms while the answer is prepared: not idle.
    const slow = await connection(port);
    expect(await slow.get('/?wait=600')).toContain('done');
    expect(slow.closed()).toBe(false);
    await sleep(500);
    expect(slow.closed()).toBe(true);
  });

  it('idleMs 0 means no limit, as keepAliveTimeout 0 does in Node', async () => {
    const port = await serve(0);
    const c = await connection(port);
    await c.get('/');
    await sleep(200); // ten sweeps' worth
    expect(c.closed()).toBe(false);
  });
});

describe('a meshkit server', () => {
  it("keeps idle connections Fastify's 72 s and still tells clients so", async () => {
    const app = createServiceApp({ logger: false });
    app.get('/', async () => 'done');
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    expect(app.server.keepAliveTimeout).toBe(0); // no timer re-armed per request
    const c = await connection((app.server.address() as net.AddressInfo).port);
    const first = await c.get('/');
    expect(first).toMatch(/\r\nKeep-Alive: timeout=72\r\n/i);
    expect(first).toMatch(/\r\nConnection: keep-alive\r\n/i);
    expect(await c.get('/')).toMatch(/^HTTP\/1\.1 200 /);
    expect(c.closed()).toBe(false);
  });
});
