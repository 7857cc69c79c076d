import type { FastifyInstance } from 'fastify';
import { MeshError } from '../errors.js';

/** How often idle keep-alive connections are reaped while the server closes. */
const REAP_INTERVAL_MS = 100;

/**
 * Makes `app.close()` finish as soon as in-flight requests have. Node's `server.close()` closes
 * the connections idle at that moment, but a keep-alive connection that was busy then stays open
 * after its response until the keep-alive timeout (72 s in Fastify), and the close waits for it.
 * So responses sent while closing say `Connection: close`, and idle connections are reaped until
 * the server has closed. A request that still arrives on an open connection is refused with a
 * 503 problem (retryable: another instance will take it), like any other error response.
 */
export function installGracefulClose(app: FastifyInstance): void {
  let closing = false;
  let reaper: NodeJS.Timeout | undefined;

  app.addHook('preClose', (done) => {
    closing = true;
    if (app.server.listening) {
      reaper = setInterval(() => app.server.closeIdleConnections(), REAP_INTERVAL_MS);
      reaper.unref();
    }
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearInterval(reaper);
    done();
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    if (closing) done(new MeshError('SERVICE_DRAINING', 'This instance is shutting down', { retryAfter: 1 }));
    else done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing && !reply.raw.headersSent) reply.header('connection', 'close');
    done(null, payload);
  });
}
