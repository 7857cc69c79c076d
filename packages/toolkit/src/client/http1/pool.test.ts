import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOnFreePort } from '../../../../../test/support/listen.js';
import { ManualClock } from '../../clock.js';
import { http1ErrorCodes } from './errors.js';
import type { ExchangeRequest } from './exchange.js';
import { UpstreamPool, type UpstreamPoolOptions } from './pool.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pool(port: number, options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const p = new UpstreamPool('127.0.0.1', port, { connections: 4, connectTimeoutMs: 2000, ...options });
  cleanups.push(() => p.close());
  return p;
}

interface Answer {
  status: number;
  headers: readonly string[];
  body: string;
}

function get(path: string, more: Partial<ExchangeRequest> = {}): ExchangeRequest {
  return { method: 'GET', path, headers: [], body: null, timeoutMs: 10_000, ...more };
}

/** Sends one exchange and collects its answer; rejects with the exchange's error. */
function send(p: UpstreamPool, request: ExchangeRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let head: { status: number; headers: readonly string[] } | undefined;
    const chunks: Buffer[] = [];
    p.exchange(request, {
      headers: (status, headers) => {
        head = { status, headers };
        return true;
      },
      data: (chunk) => chunks.push(chunk) > 0,
      complete: () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ ...(head as { status: number; headers: readonly string[] }), body });
      },
      error: reject,
    });
  });
}

/** A Node HTTP server counting the connections made to it. */
async function httpServer(handler: http.RequestListener) {
  const server = http.createServer(handler);
  let connections = 0;
  server.on('connection', () => (connections += 1));
  const port = await listenOnFreePort(server, cleanups);
  return { port, connections: () => connections };
}

/** A Node HTTP server that answers nothing until the test ends a held response; `urls` in arrival order. */
async function holdingServer() {
  const held: http.ServerResponse[] = [];
  const urls: string[] = [];
  const server = await httpServer((req, res) => {
    urls.push(req.url as string);
    held.push(res);
  });
  return { ...server, held, urls };
}

/** A TCP server writing raw bytes: `answer` gets each connection and what it received so far. */
async function rawServer(answer: (socket: net.Socket, received: string) => void) {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (!received.includes('\r\n\r\n')) return;
      const request = received;
      received = '';
      answer(socket, request);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('an upstream pool of keep-alive HTTP/1.1 connections', () => {
  it('carries one exchange after another on one connection, with host and the headers given', async () => {
    const seen: string[] = [];
    const server = await httpServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host} x-a=${req.headers['x-a']}`);
      res.setHeader('x-multi', ['1', '2']);
      res.end(`hello ${req.url}`);
    });
    const p = pool(server.port);
    for (const path of ['/a?x=1', '/b']) {
      const answer = await send(p, get(path, { headers: ['X-A', 'v'] }));
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(`hello ${path}`);
      expect(answer.headers.filter((_, i) => i % 2 === 0 && answer.headers[i] === 'x-multi')).toHaveLength(2);
    }
    expect(seen).toEqual([`GET /a?x=1 host=127.0.0.1:${server.port} x-a=v`, `GET /b host=127.0.0.1:${server.port} x-a=v`]);
    expect(server.connections()).toBe(1);
    expect(p.size).toBe(1);
  });

  it('opens at most `connections`; the rest wait and go in order as connections free up', async () => {
    const server = await holdingServer();
    const { held, urls: order } = server;
    const p = pool(server.port, { connections: 2 });
    const answers = ['/1', '/2', '/3', '/4'].map((path) => send(p, get(path)));
    while (held.length < 2) await sleep(5);
    await sleep(50);
    expect(order).toEqual(['/1', '/2']);
    for (let answered = 0; answered < 4; answered++) {
      while (held.length <= answered) await sleep(5);
      (held[answered] as http.ServerResponse).end('ok');
    }
    expect((await Promise.all(answers)).map((a) => a.body)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(order).toEqual(['/1', '/2', '/3', '/4']);
    expect(server.connections()).toBe(2);
  });

  it('reads chunked answers, answers read until the upstream closes, HEAD answers and interim 1xx', async () => {
    const server = await rawServer((socket, received) => {
      if (received.startsWith('GET /chunked')) {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n');
      } else if (received.startsWith('GET /until-close')) {
        socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it');
      } else if (received.startsWith('HEAD /')) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      } else if (received.startsWith('GET /early-hints')) {
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    const p = pool(server.port);
    expect(await send(p, get('/chunked'))).toMatchObject({ status: 200, body: 'abcde' });
    expect(await send(p, get('/until-close'))).toMatchObject({ status: 200, body: 'all of it' });
    expect(await send(p, get('/', { method: 'HEAD' }))).toMatchObject({ status: 200, body: '' });
    expect(await send(p, get('/early-hints'))).toMatchObject({ status: 201, headers: ['Content-Length', '2'], body: 'ok' });
  });

  it('sends a buffered body with its length, and a stream chunked or with the length it declared', async () => {
    const server = await httpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () =>
        res.end(`${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${body}`),
      );
    });
    const p = pool(server.port);
    const post = (body: ExchangeRequest['body'], headers: string[] = []) => send(p, get('/', { method: 'POST', body, headers }));
    expect((await post('zoë')).body).toBe('4 - zoë');
    expect((await post(Buffer.from('bytes'))).body).toBe('5 - bytes');
    expect((await post(null)).body).toBe('0 - ');
    expect((await post(Readable.from(['a', 'b', 'c']))).body).toBe('- chunked abc');
    expect((await post(Readable.from(['ab', 'c']), ['content-length', '3'])).body).toBe('3 - abc');
    expect(server.connections()).toBe(1);
  });

  it('fails a stream that does not send the length it declared, and closes that connection', async () => {
    const server = await httpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const p = pool(server.port);
    const short = send(p, get('/', { method: 'POST', body: Readable.from(['ab']), headers: ['content-length', '3'] }));
    await expect(short).rejects.toMatchObject({ code: http1ErrorCodes.BODY_FAILED });
    await expect(send(p, get('/'))).resolves.toMatchObject({ body: 'ok' });
  });

  it('refuses, before sending anything, a request that cannot be written as asked', async () => {
    const server = await httpServer((_req, res) => res.end('ok'));
    const p = pool(server.port);
    const refused = [
      get('/', { headers: ['x-evil', 'a\r\nx-injected: 1'] }),
      get('/', { headers: ['bad name', 'v'] }),
      get('/ HTTP/1.1\r\nx: y'),
      get('/', { method: 'GET /' }),
      get('/', { headers: ['Transfer-Encoding', 'chunked'] }),
      get('/', { headers: ['connection', 'upgrade'] }),
      get('/', { headers: ['content-length', '5'] }),
      get('/', { method: 'POST', body: 'abc', headers: ['content-length', '4'] }),
    ];
    for (const request of refused) {
      await expect(send(p, request)).rejects.toMatchObject({ code: http1ErrorCodes.INVALID_REQUEST });
    }
    expect(server.connections()).toBe(0);
  });

  it('takes header lines vouched for as checked as they are, and still holds them to the framing rules', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = await httpServer((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    const p = pool(server.port);
    const vouched = { headersChecked: true };
    expect((await send(p, get('/', { ...vouched, headers: ['x-ok', 'caf\xe9 \t1'] }))).body).toBe('ok');
    expect(seen[0]?.['x-ok']).toBe('caf\xe9 \t1');
    const refused = [
      get('/', { ...vouched, headers: ['Transfer-Encoding', 'chunked'] }),
      get('/', { ...vouched, headers: ['connection', 'upgrade'] }),
      get('/', { ...vouched, headers: ['content-length', '5'] }),
      get('/ HTTP/1.1\r\nx: y', vouched),
      get('/', { ...vouched, method: 'GET /' }),
    ];
    for (const request of refused) {
      await expect(send(p, request)).rejects.toMatchObject({ code: http1ErrorCodes.INVALID_REQUEST });
    }
    expect(seen).toHaveLength(1);
  });

  it('does not reuse a connection the upstream closes, nor one after which it sent bytes nobody asked for', async () => {
    let answers = 0;
    const server = await rawServer((socket, received) => {
      answers += 1;
      if (received.includes('/close')) socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na');
      else if (received.includes('/partial')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ncHTTP/1.1 200 OK\r\nCont');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nbHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale');
    });
    const p = pool(server.port);
    expect((await send(p, get('/close'))).body).toBe('a');
    expect((await send(p, get('/extra'))).body).toBe('b');
    // The stale answer is never taken for the next request's.
    expect((await send(p, get('/close'))).body).toBe('a');
    // Nor is the start of one that has not all come yet.
    expect((await send(p, get('/partial'))).body).toBe('c');
    expect((await send(p, get('/close'))).body).toBe('a');
    expect(answers).toBe(5);
    expect(server.connections()).toBe(5);
  });

  it('fails the exchange when the upstream closes mid-answer, or answers what is not HTTP', async () => {
    const server = await rawServer((socket, received) => {
      if (received.includes('/cut')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else socket.write('SMTP ready\r\n\r\n');
    });
    const p = pool(server.port);
    await expect(send(p, get('/cut'))).rejects.toMatchObject({ code: http1ErrorCodes.CLOSED_EARLY });
    await expect(send(p, get('/garbage'))).rejects.toMatchObject({ code: expect.stringMatching(/^HPE_/) });
    expect(p.size).toBe(0);
  });

  it('fails with the socket error when nothing listens, and fails those waiting at once', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const p = pool(port, { connections: 1 });
    const [first, second] = [send(p, get('/')), send(p, get('/'))];
    await expect(first).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(second).rejects.toMatchObject({ code: http1ErrorCodes.UNREACHABLE });
  });

  it('holds reading while the listener is paused, and reads on when it resumes', async () => {
    const server = await httpServer((_req, res) => res.end('x'.repeat(1 << 20)));
    const p = pool(server.port);
    let received = 0;
    let done = false;
    const exchange = p.exchange(get('/'), {
      headers: () => false,
      data: (chunk) => {
        received += chunk.length;
        return true;
      },
      complete: () => (done = true),
      error: (err) => {
        throw err;
      },
    });
    await sleep(100);
    expect(done).toBe(false);
    expect(received).toBeLessThan(1 << 20);
    exchange.resume();
    while (!done) await sleep(5);
    expect(received).toBe(1 << 20);
  });

  it('fails the exchange whose listener throws and closes its connection; the next exchange goes on another', async () => {
    const server = await httpServer((_req, res) => res.end('ok'));
    const p = pool(server.port, { connections: 1 });
    const failed = new Promise<Error>((resolve) => {
      p.exchange(get('/'), {
        headers: () => {
          throw new Error('listener broke');
        },
        data: () => true,
        complete: () => undefined,
        error: resolve,
      });
    });
    expect((await failed).message).toBe('listener broke');
    expect((await send(p, get('/'))).body).toBe('ok');
    expect(server.connections()).toBe(2);
  });

  it('aborts an exchange waiting for a connection without sending it, and one on a connection by closing that', async () => {
    const server = await holdingServer();
    const { held, urls } = server;
    const p = pool(server.port, { connections: 1 });
    const errors: Error[] = [];
    const listener = {
      headers: () => true,
      data: () => true,
      complete: () => undefined,
      error: (err: Error) => errors.push(err),
    };
    const sent = p.exchange(get('/sent'), listener);
    const waiting = p.exchange(get('/waiting'), listener);
    while (held.length < 1) await sleep(5);
    waiting.abort(new Error('no longer wanted'));
    sent.abort(new Error('gave up'));
    await sleep(50);
    expect(errors.map((e) => e.message)).toEqual(['no longer wanted', 'gave up']);
    expect(urls).toEqual(['/sent']);
    expect(p.size).toBe(0);
  });

  it('fails an exchange whose answer stalls for its timeout, found by the sweep on the pool clock', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const clock = new ManualClock(1000);
    const p = pool(server.port, { clock, sweepEveryMs: 60_000 });
    const answer = send(p, get('/', { timeoutMs: 500 }));
    await sleep(50);
    p.sweep();
    clock.advance(499);
    p.sweep();
    await sleep(20);
    clock.advance(1);
    p.sweep();
    await expect(answer).rejects.toMatchObject({ code: http1ErrorCodes.ANSWER_TIMEOUT });
  });

  it("closes an idle connection a little before the upstream's Keep-Alive timeout, or after 4 s without one", async () => {
    const server = await rawServer((socket, received) => {
      const hint = received.startsWith('GET /hint') ? 'Keep-Alive: timeout=5\r\n' : '';
      socket.write(`HTTP/1.1 200 OK\r\n${hint}Content-Length: 2\r\n\r\nok`);
    });
    const clock = new ManualClock(0);
    const hinted = pool(server.port, { clock, sweepEveryMs: 60_000 });
    const plain = pool(server.port, { clock, sweepEveryMs: 60_000 });
    await send(hinted, get('/hint'));
    await send(plain, get('/'));
    clock.advance(2999);
    hinted.sweep();
    expect(hinted.size).toBe(1);
    clock.advance(1);
    hinted.sweep();
    plain.sweep();
    expect([hinted.size, plain.size]).toEqual([0, 1]);
    clock.advance(1000);
    plain.sweep();
    expect(plain.size).toBe(0);
  });

  it('closes gracefully: what was sent is answered, then every connection closes and new exchanges are refused', async () => {
    let release: (() => void) | undefined;
    const server = await httpServer((_req, res) => {
      release = () => res.end('late');
    });
    const p = pool(server.port);
    const answer = send(p, get('/'));
    while (!release) await sleep(5);
    let closed = false;
    const closing = p.close().then(() => (closed = true));
    await sleep(20);
    expect(closed).toBe(false);
    await expect(send(p, get('/'))).rejects.toMatchObject({ code: http1ErrorCodes.POOL_CLOSED });
    release();
    expect((await answer).body).toBe('late');
    await closing;
    expect(p.size).toBe(0);
  });
});
