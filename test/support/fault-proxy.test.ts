import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Deterministic bytes, so a body can be checked without keeping a copy. */
function bytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Backend {
  port: number;
  /** Paths of the requests that reached it. */
  seen: string[];
  close(): Promise<void>;
}

/**
 * A real HTTP server: `/bytes/<n>` answers n bytes, `/echo` answers the sha256 and length of the
 * body, `/hold` never answers, anything else `hello`.
 */
async function backend(): Promise<Backend> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url === '/hold') return;
      if (url.startsWith('/bytes/')) {
        const body = bytes(Number(url.slice('/bytes/'.length)));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      } else if (url === '/echo') {
        const body = Buffer.concat(chunks);
        res.end(JSON.stringify({ length: body.length, sha: sha(body) }));
      } else {
        res.end('hello');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closed;
  };
  cleanups.push(close);
  return { port: (server.address() as net.AddressInfo).port, seen, close };
}

async function proxyTo(target: Backend, options: Parameters<typeof FaultProxy.start>[1] = {}): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: target.port }, options);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** An undici client through the proxy: one keep-alive connection, reused until it breaks. */
function clientOf(proxy: FaultProxy): Client {
  const client = new Client(`http://${proxy.address}`);
  cleanups.push(() => client.destroy());
  return client;
}

async function fetchText(client: Client, path: string, options: { headersTimeout?: number } = {}) {
  const started = performance.now();
  const res = await client.request({ method: 'GET', path, ...options });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, body, ms: performance.now() - started };
}

/** The error code of a failed request, looking into `cause` where undici wraps it. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string } };
    return String(e.cause?.code ?? e.code);
  }
  throw new Error('the request succeeded');
}

const SOCKET_FAILURE = /^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/;

async function eventually(check: () => void, withinMs = 2000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('FaultProxy without faults', () => {
  it('passes requests and large bodies both ways, intact, on a reused connection', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    const client = clientOf(proxy);

    const hello = await fetchText(client, '/');
    expect(hello.status).toBe(200);
    expect(hello.body.toString()).toBe('hello');

    const big = await fetchText(client, `/bytes/${5 * 1024 * 1024}`);
    expect(big.body.length).toBe(5 * 1024 * 1024);
    expect(sha(big.body)).toBe(sha(bytes(5 * 1024 * 1024)));

    const upload = bytes(3 * 1024 * 1024);
    const echoed = await client.request({ method: 'POST', path: '/echo', body: upload });
    expect(await echoed.body.json()).toEqual({ length: upload.length, sha: sha(upload) });

    expect(server.seen).toEqual(['/', `/bytes/${5 * 1024 * 1024}`, '/echo']);
    expect(proxy.stats().connections).toBe(1);
  });

  it('holds back a sender whose receiver does not read, instead of buffering without bound', async () => {
    const server = await backend();
    const proxy = await proxyTo(server, { highWaterMark: 256 * 1024 });
    const size = 32 * 1024 * 1024;
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    cleanups.push(async () => void socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /bytes/${size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    // Read a little, then stop reading: the proxy must stop reading from the server too.
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.pause();
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.stats().bufferedBytes).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);

    let received = 0;
    socket.on('data', (c: Buffer) => {
      received += c.length;
    });
    socket.resume();
    await new Promise<void>((resolve) => socket.once('end', resolve));
    expect(received).toBeGreaterThan(size - 64 * 1024); // everything but the first piece and headers
  });
});

describe('latency', () => {
  it('delays each direction, and clear() takes it away', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    proxy.latency(150);
    const client = clientOf(proxy);
    for (let i = 0; i < 2; i++) {
      const res = await fetchText(client, '/');
      expect(res.body.toString()).toBe('hello');
      // The request waits 150 ms on its way in, the answer 150 ms on its way out.
      expect(res.ms).toBeGreaterThanOrEqual(295);
    }
    await proxy.clear();
    expect((await fetchText(client, '/')).ms).toBeLessThan(280);
  });

  it('keeps the byte order whatever the jitter', async () => {
    // A server that talks first: 20 small chunks, 5 ms apart, through one jittered direction.
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push(`<${i}>`);
    const talker = net.createServer(async (s) => {
      s.setNoDelay(true);
      s.on('error', () => {});
      for (const piece of sent) {
        s.write(piece);
        await new Promise((r) => setTimeout(r, 5));
      }
      s.end();
    });
    await new Promise<void>((resolve) => talker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => talker.close(() => resolve())));
    // Jitter alternating high and low: without ordering, every low chunk would overtake a high one.
    let flip = false;
    const random = () => {
      flip = !flip;
      return flip ? 0.99 : 0;
    };
    const target = { host: '127.0.0.1', port: (talker.address() as net.AddressInfo).port };
    const proxy = await FaultProxy.start(target, { random });
    cleanups.push(() => proxy.close());
    proxy.latency(0, 60);

    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    cleanups.push(async () => void socket.destroy());
    let got = '';
    socket.on('data', (c: Buffer) => {
      got += c.toString();
    });
    await new Promise<void>((resolve) => socket.once('end', resolve));
    expect(got).toBe(sent.join(''));
  });
});

describe('reset', () => {
  it('resets open connections, then accepts and resets every new one before it reaches the target', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    const client = clientOf(proxy);
    const held = failure(client.request({ method: 'GET', path: '/hold' }));
    await eventually(() => expect(server.seen).toEqual(['/hold']));

    proxy.reset();
    expect(await held).toMatch(SOCKET_FAILURE);
    for (let i = 0; i < 3; i++) {
      expect(await failure(fetchText(clientOf(proxy), `/after-${i}`))).toMatch(SOCKET_FAILURE);
    }
    expect(server.seen).toEqual(['/hold']);
    await eventually(() => expect(proxy.stats().connections).toBe(0));

    await proxy.clear();
    expect((await fetchText(clientOf(proxy), '/')).body.toString()).toBe('hello');
  });
});

describe('blackhole', () => {
  it('accepts and swallows requests on new and open connections: they time out', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    const open = clientOf(proxy);
    expect((await fetchText(open, '/first')).status).toBe(200);

    proxy.blackhole();
    // The open connection goes silent…
    expect(await failure(fetchText(open, '/on-open', { headersTimeout: 300 }))).toBe('UND_ERR_HEADERS_TIMEOUT');
    // …and a new one is accepted but never answered nor closed; the target never hears of it.
    const fresh = clientOf(proxy);
    expect(await failure(fetchText(fresh, '/on-new', { headersTimeout: 300 }))).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(server.seen).toEqual(['/first']);

    const silent = net.connect({ host: '127.0.0.1', port: proxy.port });
    cleanups.push(async () => void silent.destroy());
    let closed = false;
    silent.on('close', () => {
      closed = true;
    });
    silent.on('data', () => {
      throw new Error('a blackhole answered');
    });
    silent.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // even our FIN gets no FIN back
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBe(false);
    expect(proxy.stats().connections).toBeGreaterThanOrEqual(1);
  });
});

describe('slowBytes', () => {
  it('makes 100 KB at 100 KB/s take about a second, and leaves the request direction alone', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    proxy.slowBytes(100_000);
    const res = await fetchText(clientOf(proxy), '/bytes/100000');
    expect(sha(res.body)).toBe(sha(bytes(100_000)));
    expect(res.ms).toBeGreaterThanOrEqual(800);
    expect(res.ms).toBeLessThan(4000);

    // 1 MB up at 10 KB/s would take 100 s; only the small answer is throttled.
    proxy.slowBytes(10_000);
    const upload = bytes(1_000_000);
    const started = performance.now();
    const echoed = await clientOf(proxy).request({ method: 'POST', path: '/echo', body: upload });
    expect(await echoed.body.json()).toEqual({ length: upload.length, sha: sha(upload) });
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('refuse and restore', () => {
  it('refuses connections and closes open ones, then listens again on the same port', async () => {
    const server = await backend();
    const proxy = await proxyTo(server);
    const port = proxy.port;
    const client = clientOf(proxy);
    const held = failure(client.request({ method: 'GET', path: '/hold' }));
    await eventually(() => expect(server.seen).toEqual(['/hold']));

    await proxy.refuse();
    expect(proxy.stats()).toMatchObject({ listening: false, connections: 0 });
    expect(await held).toMatch(SOCKET_FAILURE);
    expect(await failure(fetchText(clientOf(proxy), '/'))).toBe('ECONNREFUSED');

    await proxy.restore();
    expect(proxy.port).toBe(port);
    expect(proxy.stats().listening).toBe(true);
    expect((await fetchText(clientOf(proxy), '/')).body.toString()).toBe('hello');

    await proxy.refuse();
    await proxy.clear(); // clear() listens again too
    expect(proxy.port).toBe(port);
    expect((await fetchText(clientOf(proxy), '/')).body.toString()).toBe('hello');
  });
});

describe('close', () => {
  const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;

  it('leaves no socket, server or timer behind, whatever was in flight', async () => {
    await eventually(() => expect(sockets()).toBe(0));
    const server = await backend();
    const proxy = await proxyTo(server);
    proxy.latency(200);
    proxy.slowBytes(1000);

    // In flight: a throttled download, a request waiting out its latency, a held request, a blackholed one.
    const clients = [clientOf(proxy), clientOf(proxy), clientOf(proxy)];
    const pending = [
      clients[0]?.request({ method: 'GET', path: '/bytes/50000' }).then((r) => r.body.arrayBuffer()),
      clients[1]?.request({ method: 'GET', path: '/hold' }),
    ];
    await eventually(() => expect(server.seen).toEqual(expect.arrayContaining(['/bytes/50000', '/hold'])));
    const late = clients[2]?.request({ method: 'GET', path: '/late' });
    proxy.blackhole();
    const swallowed = clientOf(proxy).request({ method: 'GET', path: '/swallowed' });
    // Each failure is caught from now on: none goes unhandled while the test awaits another.
    const failures = Promise.all([...pending, late, swallowed].map((p) => failure(p as Promise<unknown>)));
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.stats().connections).toBe(4);

    await proxy.close();
    expect(proxy.stats()).toEqual({ connections: 0, timers: 0, bufferedBytes: 0, listening: false });
    for (const code of await failures) expect(code).toMatch(SOCKET_FAILURE);
    expect(await failure(fetchText(clientOf(proxy), '/'))).toBe('ECONNREFUSED');
    await expect(proxy.restore()).rejects.toThrow(/closed/);

    for (const c of cleanups.splice(0).reverse()) await c();
    await server.close();
    // Every socket of the proxy, the server and the clients is gone: nothing keeps the process alive.
    await eventually(() => expect(sockets()).toBe(0));
  });
});
