import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceApp } from './create-app.js';
import type { ServiceApp } from './types.js';

const sockets: net.Socket[] = [];
const apps: ServiceApp[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** A listening app and a raw keep-alive connection to it, recording what comes back. */
async function connected(routes: (app: ServiceApp) => void) {
  const app = createServiceApp({ logger: false });
  apps.push(app);
  routes(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as net.AddressInfo;
  const socket = net.connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  const received = { text: '' };
  socket.on('data', (d) => {
    received.text += String(d);
  });
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise((r) => socket.once('connect', r));
  return { app, socket, received, ended };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('graceful close', () => {
  it('finishes an in-flight keep-alive request, then closes without waiting for the keep-alive timeout', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const { app, socket, received, ended } = await connected((a) => {
      a.get('/slow', async () => {
        await released;
        return { slow: true };
      });
    });
    socket.write('GET /slow HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n');
    await pause(100);
    const closed = app.close();
    await pause(100);
    release();
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(5000); // Fastify's keep-alive timeout is 72 s
    await ended; // the server closed the connection
    expect(received.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(received.text.toLowerCase()).toContain('connection: close');
    expect(received.text).toContain('{"slow":true}');
  });

  it('refuses a request that arrives while closing with a 503 problem and a request id', async () => {
    const { app, socket, received, ended } = await connected((a) => {
      a.get('/fast', async () => ({ fast: true }));
    });
    socket.write('GET /fast HTTP/1.1\r\nHost: test\r\nX-Request-Id: late-1\r\n'); // headers not finished yet
    await pause(100);
    const closed = app.close();
    await pause(50);
    socket.write('\r\n');
    await closed;
    await ended;
    const [head = '', body = ''] = received.text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 503 /);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(head.toLowerCase()).toContain('x-request-id: late-1');
    expect(head.toLowerCase()).toContain('retry-after: 1');
    expect(JSON.parse(body)).toMatchObject({ status: 503, type: 'urn:meshkit:problem:service-draining' });
  });
});
