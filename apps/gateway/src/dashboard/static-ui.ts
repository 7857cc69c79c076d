import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeshError, PROBLEM_CONTENT_TYPE, problemBody, sendProblem } from '@meshkit/toolkit/core';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where Vite writes the built UI: `apps/gateway/dist-dashboard/`, from `src/dashboard/` or `dist/dashboard/`. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist-dashboard/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** A built asset's name: Vite's `name-hash.ext`; no separators, no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

function notFound(code: unknown): boolean {
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/**
 * The built UI: its page at `/dashboard` (and `/dashboard/`), its files under
 * `/dashboard/assets/`, read from `dir` on each request (a rebuild shows at the next reload).
 * Without a build the page is a 503 problem saying how to build it, never a 500.
 */
export function staticUi(app: FastifyInstance, dir: string = DEFAULT_UI_DIR): void {
  const page = async (_request: unknown, reply: FastifyReply) => {
    let html: Buffer;
    try {
      html = await readFile(join(dir, 'index.html'));
    } catch (err) {
      if (!notFound((err as NodeJS.ErrnoException).code)) throw err;
      const body = problemBody(
        503,
        'Service Unavailable',
        'The dashboard UI is not built: run `npm run build` (or `npm run build:dashboard`) and reload',
        'about:blank',
        { instance: '/dashboard' },
      );
      return reply.code(503).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
    }
    return reply.header('content-type', CONTENT_TYPES['.html']).header('cache-control', 'no-cache').send(html);
  };
  app.get('/dashboard', page);
  app.get('/dashboard/', page);

  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', async (request, reply) => {
    const file = request.params.file;
    const type = CONTENT_TYPES[extname(file)];
    if (!ASSET_NAME.test(file) || type === undefined) {
      return sendProblem(reply, new MeshError('NOT_FOUND', `No dashboard asset ${JSON.stringify(file)}`));
    }
    let body: Buffer;
    try {
      body = await readFile(join(dir, 'assets', file));
    } catch (err) {
      if (!notFound((err as NodeJS.ErrnoException).code)) throw err;
      return sendProblem(reply, new MeshError('NOT_FOUND', `No dashboard asset ${JSON.stringify(file)}`));
    }
    // Vite puts a content hash in every asset's name: a changed file is a new name.
    return reply.header('content-type', type).header('cache-control', 'public, max-age=31536000, immutable').send(body);
  });
}
