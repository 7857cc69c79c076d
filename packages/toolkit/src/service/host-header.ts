import type { FastifyInstance } from 'fastify';
import { MeshError } from '../errors.js';

/**
 * An HTTP/1.1 request without `Host` is a 400 (RFC 9112 §3.2), answered as problem+json with its
 * request id and access line like any other, and the connection then closes, as Node does. Node's
 * own check (`requireHostHeader`, switched off in the server `createServiceApp` makes) answers
 * with an empty 400 that no hook sees.
 */
export function installHostRequirement(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    if (raw.headers.host !== undefined || raw.httpVersionMajor !== 1 || raw.httpVersionMinor !== 1) return done();
    reply.header('connection', 'close');
    done(new MeshError('BAD_REQUEST', 'An HTTP/1.1 request must carry a Host header'));
  });
}
