import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatewayApp, type GatewayHandle } from '@meshkit/gateway';
import { createOrdersApp } from '@meshkit/orders';
import { createProductsApp } from '@meshkit/products';
import { type OpenApiDocument, ServiceClient, type ServiceHandle, StaticInstanceSource } from '@meshkit/toolkit';
import { createUsersApp } from '@meshkit/users';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The real users, products and orders services on free ports behind a StaticInstanceSource, and a
 * gateway over it: its `/docs/json` is one document for them all, fetched from the services.
 */
let dataDir: string;
const services: ServiceHandle[] = [];
let ordersClient: ServiceClient;
let gateway: GatewayHandle;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'meshkit-docs-'));
  const source = new StaticInstanceSource();
  ordersClient = new ServiceClient({ source });
  const service = { port: 0, logger: false as const };
  services.push(
    await createUsersApp({ dataDir, service }),
    await createProductsApp({ dataDir, service }),
    await createOrdersApp({ dataDir, caller: ordersClient, service }),
  );
  for (const s of services) {
    await s.start();
    source.add(s.instance);
  }
  gateway = await createGatewayApp({ source, port: 0, logger: false });
  await gateway.start();
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all(services.map((s) => s.stop()));
  await ordersClient?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function docs(): Promise<OpenApiDocument> {
  const res = await request(new URL('/docs/json', gateway.url));
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as OpenApiDocument;
}

describe('the gateway /docs/json', () => {
  it("merges every routed service's paths with the gateway's own", async () => {
    const doc = await docs();
    const paths = Object.keys(doc.paths ?? {});
    for (const p of ['/', '/registry', '/users', '/users/{id}', '/products', '/products/{id}', '/orders', '/orders/{id}']) {
      expect(paths).toContain(p);
    }
    expect(paths.filter((p) => /^\/(internal|health|metrics|docs|info)\b/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.includes('*'))).toEqual([]);
    expect(doc['x-meshkit-missing']).toBeUndefined();
    expect(doc.paths?.['/users']?.post).toMatchObject({ tags: ['user-service'] });
    expect(doc.paths?.['/products/{id}']?.get).toMatchObject({
      tags: ['product-service'],
      parameters: [expect.objectContaining({ in: 'path', name: 'id' })],
    });
    expect(Object.keys(doc.paths?.['/orders'] ?? {})).toContain('post');
  });

  it('serves swagger-ui at /docs', async () => {
    const res = await request(new URL('/docs', gateway.url));
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toContain('swagger-ui');
  });

  it('is served from its cache while the services are unchanged', async () => {
    const before = await docs();
    const users = services[0];
    await users?.stop(); // with the cache warm, the document still has the users' paths
    const after = await docs();
    expect(after).toEqual(before);
  });
});
