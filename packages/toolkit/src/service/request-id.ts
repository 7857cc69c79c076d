import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUuid } from '../wire/random-ids.js';

/** 1–200 visible ASCII characters: anything else (empty, spaces, control bytes) is replaced. */
const ACCEPTABLE_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * Fastify server options for request ids; spread into `fastify({...})`, since `genReqId` cannot
 * be set after construction. The caller's `x-request-id` is kept when sane, so one id follows a
 * request across the gateway and the services.
 */
export const requestIdOptions = {
  requestIdHeader: false as const,
  genReqId(req: { headers: IncomingHttpHeaders }): string {
    const incoming = req.headers['x-request-id'];
    return typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUuid();
  },
};

/** Sets `x-request-id` on every response: successes, errors and 404s alike. */
export function installRequestId(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    tagWithRequestId(request, reply);
    done(null, payload);
  });
}

/** The response names its request's id (also where no hook runs: Fastify's `frameworkErrors`). */
export function tagWithRequestId(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
}
