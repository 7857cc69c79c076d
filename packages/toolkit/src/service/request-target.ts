import type { FastifyInstance } from 'fastify';
import { MeshError } from '../errors.js';

/**
 * What RFC 9112 asks of a request line and its target that Node lets through or answers on its
 * own, answered as a 400 problem with the request id and access line like any other error:
 * - HTTP/1.1 without `Host` (§3.2); the connection then closes, as Node does. Node's own check
 *   (`requireHostHeader`, switched off in the server `createServiceApp` makes) answers with an
 *   empty 400 that no hook sees;
 * - the asterisk form `*` with any method but OPTIONS (§3.2.4): the router would read it as `/`.
 */
export function installRequestTargetRules(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    if (raw.url === '*' && raw.method !== 'OPTIONS') {
      return done(new MeshError('BAD_REQUEST', 'The target "*" is only for OPTIONS'));
    }
    if (raw.headers.host !== undefined || raw.httpVersionMajor !== 1 || raw.httpVersionMinor !== 1) return done();
    reply.header('connection', 'close');
    done(new MeshError('BAD_REQUEST', 'An HTTP/1.1 request must carry a Host header'));
  });
}
