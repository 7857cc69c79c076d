import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceApp } from './create-app.js';
import { defineService } from './define-service.js';
import type { OpenApiDocument } from './api-docs.js';
import type { ServiceApp } from './types.js';

const apps: ServiceApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const Thing = Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() });

async function docOf(app: ServiceApp): Promise<OpenApiDocument> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  return res.json() as OpenApiDocument;
}

describe('/docs', () => {
  it("documents a service's routes from their schemas, and hides internal and operational ones", async () => {
    // Through defineService: its routes are added after createServiceApp returned.
    const service = await defineService(
      {
        name: 'thing-service',
        routes(app) {
          app.post('/things', { schema: { body: Type.Object({ name: Type.String() }), response: { 201: Thing } } }, async (_r, reply) =>
            reply.code(201).send({ id: crypto.randomUUID(), name: 'x' }),
          );
          app.get('/things/:id', { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: Thing } } }, async (r) => ({
            id: r.params.id,
            name: 'x',
          }));
          app.put('/internal/things/:id/lock', async () => ({ locked: true }));
        },
      },
      { port: 0, logger: false },
    );
    apps.push(service.app);
    const doc = await docOf(service.app);
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths ?? {}).sort()).toEqual(['/info', '/things', '/things/{id}']);
    const getThing = doc.paths?.['/things/{id}']?.get as { parameters: unknown[]; responses: Record<string, unknown> };
    expect(getThing.parameters).toEqual([
      expect.objectContaining({ in: 'path', name: 'id', required: true, schema: { type: 'string', format: 'uuid' } }),
    ]);
    expect(getThing.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { properties: { name: { type: 'string' } } } } },
    });
    expect(Object.keys(doc.paths?.['/things'] ?? {})).toEqual(['post']);
  });

  it('serves swagger-ui at /docs and YAML at /docs/yaml', async () => {
    const app = createServiceApp({ logger: false, apiDocs: { title: 'things', version: '2.1.0' } });
    apps.push(app);
    app.get('/things', async () => []);
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/^text\/html/);
    expect(ui.body).toContain('swagger-ui');
    const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' });
    expect(yaml.body).toContain('/things:');
    expect((await docOf(app)).info).toEqual({ title: 'things', version: '2.1.0' });
  });

  it('hides what `hide` names, and serves what `document` makes of the own document', async () => {
    const app = createServiceApp({
      logger: false,
      apiDocs: {
        hide: (url) => url.startsWith('/secret'),
        document: async (own) => ({ ...own, 'x-seen-paths': Object.keys(own.paths ?? {}) }),
      },
    });
    apps.push(app);
    app.get('/open', async () => 'ok');
    app.get('/secret/plans', async () => 'no');
    app.all('/proxy/*', async () => 'wild');
    const doc = await docOf(app);
    expect(doc['x-seen-paths']).toEqual(['/open']);
    expect(Object.keys(doc.paths ?? {})).toEqual(['/open']);
  });

  it('is off with apiDocs: false', async () => {
    const app = createServiceApp({ logger: false, apiDocs: false });
    apps.push(app);
    expect((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(404);
  });
});
