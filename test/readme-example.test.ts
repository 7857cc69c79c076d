import { describe, expect, it } from 'vitest';
import { createRegistry, defineService, Discovery, ServiceClient } from '@meshkit/toolkit';
import { Type } from 'typebox';

/** The README's "toolkit in your own service" example, as written there, must work. */
describe('README example', () => {
  it('defines, registers, discovers and calls a service, then stops it', async () => {
    const registry = createRegistry(undefined); // memory when unset
    const discovery = new Discovery(registry);
    await discovery.start();
    const client = new ServiceClient({ source: discovery, strategies: { 'product-service': 'p2c_ewma' } });

    const handle = await defineService(
      {
        name: 'greeting-service',
        routes(app) {
          app.get(
            '/hello/:name',
            { schema: { params: Type.Object({ name: Type.String({ maxLength: 50 }) }) } },
            async (req) => ({ hello: req.params.name }),
          );
        },
      },
      { port: 0, registry, logger: false },
    );
    await handle.start();
    const r = await client.call('greeting-service', { method: 'GET', path: '/hello/world' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ hello: 'world' });
    await handle.stop();
    await expect(client.call('greeting-service', { method: 'GET', path: '/hello/world' })).rejects.toMatchObject({
      status: 503,
    });
    await client.close();
    discovery.stop();
    await registry.close();
  });
});
