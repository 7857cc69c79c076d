// The floor: the least a Node proxy can do. Fastify 5 with its logger off, one undici Pool to the
// backend, the upstream status and headers copied, the body streamed through as it is.
import Fastify from 'fastify';
import { Pool } from 'undici';
import { exitWithParent } from './exit-with-parent.js';
import { listenAndAnnounce, upstreamFromEnv } from './server-env.js';

const upstream = upstreamFromEnv();
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

app.all('/*', async (request, reply) => {
  const { statusCode, headers, body } = await pool.request({
    method: request.method as 'GET',
    path: request.url,
    headers: forwardable(request.headers),
    body: Buffer.isBuffer(request.body) ? request.body : null,
  });
  reply.code(statusCode);
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) {
      reply.header(name, value);
    }
  }
  return reply.send(body);
});

// Hop-by-hop headers are the proxy's own; undici refuses some of them outright.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

function forwardable(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

exitWithParent();
await listenAndAnnounce(app, async () => {
  await app.close();
  await pool.close();
});
