import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type FrontDoor, installEdge } from './edge.js';
import type { EdgeRequest } from './edge-request.js';
import type { EdgeResponse } from './edge-response.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A node:http server answering `node:<method> <url> body=<body>`, behind an edge whose front door
 * answers GETs under /edge itself (`edge:<url>`) unless `door.take` is replaced.
 */
async function serve(door: FrontDoor = { take: edgeAnswers }) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => res.end(`node:${req.method} ${req.url} body=${body}`));
  });
  installEdge(server, { front: door, keepAliveMs: 5000, clock: { now: () => Date.UTC(2026, 10, 30, 12, 0, 0) } });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

function edgeAnswers(req: EdgeRequest, res: EdgeResponse): boolean {
  if (req.method !== 'GET' || !req.url.startsWith('/edge')) return false;
  const body = `edge:${req.url}`;
  res.writeHead(200, ['content-type', 'text/plain', 'content-length', String(body.length)]).end(Buffer.from(body));
  return true;
}

/** Writes each part (a pause between), reads until the server closes; the raw answer. */
async function talk(port: number, parts: string[], pauseMs = 20): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  cleanups.push(() => void socket.destroy());
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  const closed = once(socket, 'close');
  for (const part of parts) {
    socket.write(part, 'latin1');
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  await closed;
  return text;
}

/** The bodies of a run of content-length answers, in order. */
function bodies(raw: string): string[] {
  const out: string[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const length = Number(/content-length: *(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
    out.push(rest.slice(end + 4, end + 4 + length));
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('the HTTP/1.1 edge in front of a node:http server', () => {
  it('answers what its front door takes, and hands the connection to Node, bytes and all, at the first request it does not', async () => {
    const { port } = await serve();
    const pipelined =
      get('/edge/1') + get('/edge/2') + 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' + get('/edge/3');
    const raw = await talk(port, [pipelined, get('/edge/4', 'Connection: close\r\n')]);
    expect(bodies(raw)).toEqual(['edge:/edge/1', 'edge:/edge/2', 'node:POST /form body=abc', 'node:GET /edge/3 body=', 'node:GET /edge/4 body=']);
  });

  it('never offers a request with a body, whatever the front door would take: Node reads bodies', async () => {
    const { port } = await serve({
      take(req, res) {
        res.writeHead(200, { 'content-length': '4' }).end('edge');
        return true;
      },
    });
    const raw = await talk(port, [
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
        'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nde\r\n0\r\n\r\n',
    ]);
    expect(bodies(raw)).toEqual(['node:POST /a body=abc', 'node:POST /b body=de']);
  });

  it("reads its connections as Node's server does, with no data event per read", async () => {
    const { server, port } = await serve();
    let dataEvents = 0;
    server.on('connection', (socket: net.Socket) => socket.on('data', () => (dataEvents += 1)));
    const raw = await talk(port, [get('/edge/1'), get('/edge/2'), get('/edge/3', 'Connection: close\r\n')]);
    expect(bodies(raw)).toEqual(['edge:/edge/1', 'edge:/edge/2', 'edge:/edge/3']);
    expect(dataEvents).toBe(0);
  });

  it('holds back what a client sends while an answer is under way, a head cut across those reads included, and takes it up in order', async () => {
    const { port } = await serve({
      take(req, res) {
        if (!req.url.startsWith('/edge')) return false;
        setTimeout(() => edgeAnswers(req, res), 60);
        return true;
      },
    });
    const second = get('/edge/2');
    const raw = await talk(port, [
      get('/edge/1'),
      second.slice(0, 9),
      second.slice(9) + get('/edge/3') + 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
      get('/edge/4', 'Connection: close\r\n'),
    ]);
    expect(bodies(raw)).toEqual(['edge:/edge/1', 'edge:/edge/2', 'edge:/edge/3', 'node:POST /form body=abc', 'node:GET /edge/4 body=']);
  });

  it('stops reading a client that sends far ahead of its answers, and reads on once they go out', async () => {
    let release: (() => void) | undefined;
    const { server, port } = await serve({
      take(req, res) {
        if (req.url !== '/edge/first') return edgeAnswers(req, res);
        release = () => edgeAnswers(req, res);
        return true;
      },
    });
    let accepted: net.Socket | undefined;
    server.on('connection', (socket: net.Socket) => (accepted = socket));
    const ahead = 20_000;
    const requests = get('/edge/first') + get('/edge/n').repeat(ahead - 1) + get('/edge/last', 'Connection: close\r\n');
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    let text = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    socket.write(requests, 'latin1');
    await until(() => release !== undefined);
    // 64 KiB held back, plus at most a read or two past it: far less than was sent.
    const readWhileHeld = await settled(() => accepted?.bytesRead ?? 0);
    expect(requests.length).toBeGreaterThan(500 * 1024);
    expect(readWhileHeld).toBeLessThan(256 * 1024);
    release?.();
    await closed;
    const answers = bodies(text);
    expect(answers.length).toBe(ahead + 1);
    expect(answers[0]).toBe('edge:/edge/first');
    // In order to the last (Node's, once a head falls across two reads).
    expect(answers.at(-1)).toMatch(/^(edge:|node:GET )\/edge\/last/);
  });

  it('gives Node a head that comes in pieces, and every request after it', async () => {
    const { port } = await serve();
    const head = get('/edge/slow', 'Connection: close\r\n');
    const raw = await talk(port, [get('/edge/0'), head.slice(0, 7), head.slice(7, 30), head.slice(30)]);
    expect(bodies(raw)).toEqual(['edge:/edge/0', 'node:GET /edge/slow body=']);
  });

  it("leaves malformed requests, oversized heads, upgrades and HTTP/1.1 without Host to Node's own answers", async () => {
    const { server, port } = await serve();
    expect(await talk(port, ['GET /edge/1 HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'])).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(await talk(port, [get('/edge/1', `x-big: ${'a'.repeat(20_000)}\r\n`)])).toMatch(/^HTTP\/1\.1 431 /);
    expect(await talk(port, ['GET /edge/1 HTTP/1.1\r\n\r\n'])).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    server.on('upgrade', (_req, socket: net.Socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nnode upgraded'));
    expect(await talk(port, [get('/edge/1', 'Connection: Upgrade\r\nUpgrade: x\r\n')])).toMatch(/101 Switching Protocols[\s\S]*node upgraded$/);
  });

  it('frames an answer as Node would: Date, keep-alive and its hint, chunked without a length, none for HEAD, close for HTTP/1.0', async () => {
    const door: FrontDoor = {
      take(req, res) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('hello, ');
        res.end('world');
        return true;
      },
    };
    const { port } = await serve(door);
    const chunked = await talk(port, [get('/a'), get('/b', 'Connection: close\r\n')]);
    const [first, second] = chunked.split(/(?=HTTP\/1\.1 200)/);
    expect(first).toBe(
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\nDate: Mon, 30 Nov 2026 12:00:00 GMT\r\n' +
        'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n7\r\nhello, \r\n5\r\nworld\r\n0\r\n\r\n',
    );
    expect(second).toContain('Connection: close\r\n');
    const head = await talk(port, ['HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(head).toMatch(/\r\n\r\n$/);
    expect(head).not.toContain('hello');
    const old = await talk(port, ['GET /a HTTP/1.0\r\n\r\n']);
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old).not.toContain('Transfer-Encoding');
    expect(old).toMatch(/Connection: close\r\n\r\nhello, world$/);
  });

  it('writes a head of lines known valid (writeCheckedHead) framed as writeHead frames it', async () => {
    const heads: string[] = [];
    const lines = ['content-type', 'text/plain', 'x-upstream', 'caf\xe9', 'content-length', '2'];
    const { port } = await serve({
      take(req, res) {
        if (req.url === '/checked') res.writeCheckedHead(200, lines).end('ok');
        else res.writeHead(200, lines).end('ok');
        return true;
      },
    });
    const raw = await talk(port, [get('/checked'), get('/tested', 'Connection: close\r\n')]);
    for (const answer of raw.split(/(?=HTTP\/1\.1 200)/)) heads.push(answer.replace(/Connection: [a-z-]+\r\n(Keep-Alive: [^\r]*\r\n)?/, ''));
    expect(heads).toHaveLength(2);
    expect(heads[0]).toBe(heads[1]);
    expect(heads[0]).toBe(
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-upstream: caf\xe9\r\ncontent-length: 2\r\nDate: Mon, 30 Nov 2026 12:00:00 GMT\r\n\r\nok',
    );
  });

  it("refuses a header Node would refuse, before anything is written", async () => {
    const errors: unknown[] = [];
    const { port } = await serve({
      take(_req, res) {
        try {
          res.writeHead(200, { 'x-bad': 'a\r\nInjected: yes' });
        } catch (err) {
          errors.push(err);
          res.writeHead(502, { 'content-length': '0', connection: 'close' }).end();
        }
        return true;
      },
    });
    const raw = await talk(port, [get('/a')]);
    expect(raw).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(raw).not.toContain('Injected');
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_INVALID_CHAR' })]);
  });

  it('holds a writer back while its client does not read, drains when it reads on, and says close when it hangs up', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    let written = 0;
    let drains = 0;
    const closes: boolean[] = [];
    const { port } = await serve({
      take(_req, res) {
        res.once('close', () => closes.push(res.writableFinished));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = () => {
          for (;;) {
            written += chunk.length;
            if (!res.write(chunk)) break;
          }
          res.once('drain', () => {
            drains += 1;
            pump();
          });
        };
        pump();
        return true;
      },
    });
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await once(socket, 'connect');
    socket.write(get('/endless'));
    const stalledAt = await settled(() => written);
    expect(stalledAt).toBeGreaterThan(0);
    expect(closes).toEqual([]);
    socket.resume(); // reads on: the kernel's buffers empty, the edge says drain, the writer goes on
    await until(() => written > stalledAt * 2);
    expect(drains).toBeGreaterThan(0);
    socket.destroy();
    await until(() => closes.length > 0);
    expect(closes).toEqual([false]);
  });

  it('ends an answer whose body went out with write() without another write to the socket, and finishes only once a queued body is out', async () => {
    const small = Buffer.from('{"id":"1"}');
    const large = Buffer.alloc(8 * 1024 * 1024, 7); // more than the kernel's buffers take at once
    const writesPerAnswer: number[] = [];
    const finished: string[] = [];
    const { port } = await serve({
      take(req, res) {
        const body = req.url === '/large' ? large : small;
        let writes = 0;
        const write = req.socket.write;
        req.socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
          writes += 1;
          return write.apply(this, args);
        } as net.Socket['write'];
        res.once('finish', () => {
          req.socket.write = write;
          finished.push(req.url);
          writesPerAnswer.push(writes);
        });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
        res.write(body);
        res.end();
        return true;
      },
    });
    const raw = await talk(port, [get('/small'), get('/large'), get('/small', 'Connection: close\r\n')]);
    expect(finished).toEqual(['/small', '/large', '/small']);
    // The small answer: head and body in one write, and the end adds none.
    expect(writesPerAnswer[0]).toBe(1);
    expect(writesPerAnswer[2]).toBe(1);
    // All of the large body arrived, between the two small answers.
    expect(raw.length).toBeGreaterThan(large.length);
    expect(raw.lastIndexOf('{"id":"1"}')).toBeGreaterThan(large.length);
  });

  it('tells each listener once, in the order added; off takes back the last registration of a listener', async () => {
    const heard: string[] = [];
    const { port } = await serve({
      take(_req, res) {
        const a = () => heard.push('finish a');
        const b = () => heard.push('finish b');
        const gone = () => heard.push('close gone');
        res.once('finish', a).once('finish', b).once('finish', a).off('finish', a);
        res.once('close', gone).once('close', () => heard.push('close kept')).off('close', gone);
        res.once('drain', () => heard.push('drain')).off('drain', () => heard.push('never added'));
        res.writeHead(200, ['content-length', '2']).end('ok');
        return true;
      },
    });
    const answer = await talk(port, [get('/a', 'Connection: close\r\n')]);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
    // The connection's own close came after the response's: no listener heard twice, drain never.
    expect(heard).toEqual(['finish a', 'finish b', 'close kept']);
  });

  it('closes its idle connections with the server and lets a busy one finish its answer, with Connection: close', async () => {
    let answer: (() => void) | undefined;
    const { server, port } = await serve({
      take(req, res) {
        answer = () => res.writeHead(200, { 'content-length': '4' }).end('done');
        return req.url === '/slow';
      },
    });
    const idle = net.connect(port, '127.0.0.1');
    const idleClosed = once(idle, 'close');
    idle.resume();
    const busy = net.connect(port, '127.0.0.1');
    let text = '';
    busy.setEncoding('latin1').on('data', (c: string) => (text += c));
    const busyClosed = once(busy, 'close');
    busy.write(get('/slow'));
    await until(() => answer !== undefined);
    const closed = new Promise((resolve) => server.close(resolve));
    await idleClosed;
    answer?.();
    await busyClosed;
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n\r\ndone$/);
  });
});

/** Waits until `value` stops changing for 200 ms; returns it. */
async function settled(value: () => number): Promise<number> {
  let last = value();
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const now = value();
    if (now === last) return now;
    last = now;
  }
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
