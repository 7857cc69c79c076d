import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayApp, type GatewayHandle } from '@meshkit/gateway';
import { type ServiceInstance, StaticInstanceSource } from '@meshkit/toolkit';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus, type RegistryView, requestRates, upstreamAttempts, watchStatus } from './status.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const view: RegistryView = {
  services: [
    {
      name: 'user-service',
      instances: [
        {
          id: 'aaaaaaaa-1111',
          host: '127.0.0.1',
          port: 8001,
          version: '1.0.0',
          weight: 1,
          status: 'healthy',
          circuit: 'closed',
          in_flight: 2,
          ejected: true,
          meta: { pid: '42' },
        },
      ],
    },
  ],
};

describe('status table', () => {
  it('has no REQ/S column without rates, and one with them', () => {
    expect(formatStatus(view).split('\n')[0]).not.toContain('REQ/S');
    const [head, row] = formatStatus(view, new Map([['aaaaaaaa-1111', 12.345]])).split('\n');
    expect(head?.split(/\s+/)).toEqual([
      'SERVICE', 'INSTANCE', 'ADDRESS', 'VERSION', 'WEIGHT', 'STATUS', 'CIRCUIT', 'IN-FLIGHT', 'REQ/S', 'PID',
    ]);
    expect(row).toMatch(/closed, ejected\s+2\s+12\.3\s+42$/);
    expect(formatStatus(view, new Map()).split('\n')[1]).toMatch(/2\s+-\s+42$/);
  });

  it("sums an instance's attempts over status classes, and makes rates of two scrapes", () => {
    const text = [
      '# TYPE meshkit_upstream_requests_total counter',
      'meshkit_upstream_requests_total{service="s",instance="a",status_class="2xx"} 10',
      'meshkit_upstream_requests_total{service="s",instance="a",status_class="5xx"} 2',
      'meshkit_upstream_requests_total{service="s",instance="b",status_class="2xx"} 3',
      'http_requests_total{method="GET",route="/",status_code="200"} 99',
    ].join('\n');
    const counts = upstreamAttempts(text);
    expect(counts).toEqual(new Map([['a', 12], ['b', 3]]));
    const later = new Map([['a', 32], ['b', 1], ['c', 4]]);
    // b went down (the gateway restarted): counted from its new value; c is new: from 0.
    expect(requestRates(counts, later, 2)).toEqual(new Map([['a', 10], ['b', 0.5], ['c', 2]]));
    expect(requestRates(counts, later, 0)).toEqual(new Map());
  });
});

describe('watchStatus', () => {
  async function gatewayOverOneInstance(): Promise<{ gateway: GatewayHandle; instance: ServiceInstance }> {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const instance: ServiceInstance = {
      id: randomUUID(),
      service: 'user-service',
      version: '1.0.0',
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      weight: 1,
      tags: [],
      meta: { pid: '4242' },
      status: 'healthy',
      registeredAt: 0,
      lastHeartbeat: 0,
    };
    const gateway = await createGatewayApp({ source: new StaticInstanceSource([instance]), port: 0, logger: false });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    return { gateway, instance };
  }

  it('redraws the table in place with each instance’s requests per second until stopped', async () => {
    const { gateway, instance } = await gatewayOverOneInstance();
    const frames: string[] = [];
    const stop = new AbortController();
    const watching = watchStatus(gateway.url, {
      intervalMs: 100,
      signal: stop.signal,
      write: (t) => frames.push(t),
      inPlace: true,
    });
    const row = (frame: string) => frame.split('\n').find((l) => l.includes(instance.id.slice(0, 8))) ?? '';
    const rateIn = (frame: string) => row(frame).match(/closed\S*\s+\d+\s+(\S+)\s+4242/)?.[1];

    // Traffic until a frame shows it as a rate above 0 (within a generous bound).
    const until = Date.now() + 10_000;
    while (!frames.some((f) => Number(rateIn(f)) > 0) && Date.now() < until) {
      const res = await request(new URL('/users', gateway.url));
      await res.body.dump();
      await new Promise((r) => setTimeout(r, 5));
    }
    stop.abort();
    await watching;
    const count = frames.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(frames.length).toBe(count); // stopped: no frame after

    expect(frames.some((f) => Number(rateIn(f)) > 0)).toBe(true);
    expect(rateIn(frames[0] ?? '')).toBe('-'); // one scrape: no rate yet
    for (const f of frames) {
      expect(f.startsWith('\x1b[H')).toBe(true);
      expect(f.endsWith('\x1b[J')).toBe(true);
      expect(f).toContain('REQ/S');
    }
  });

  it('says so when the gateway does not answer, and keeps asking', async () => {
    const { gateway } = await gatewayOverOneInstance();
    const url = gateway.url;
    await gateway.stop();
    const frames: string[] = [];
    const stop = new AbortController();
    const watching = watchStatus(url, {
      intervalMs: 100,
      signal: stop.signal,
      write: (t) => {
        frames.push(t);
        if (frames.length === 2) stop.abort();
      },
      inPlace: false,
    });
    await watching;
    expect(frames).toHaveLength(2);
    for (const f of frames) {
      expect(f).toContain(`${url} did not answer`);
      expect(f.endsWith('\n\n')).toBe(true);
    }
  });
});
