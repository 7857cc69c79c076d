import type { FastifyInstance } from 'fastify';
import { type Clock, systemClock } from '../clock.js';
import { MeshError } from '../errors.js';
import { deadlineFromHeaders, REQUEST_TIMEOUT_HEADER } from '../resilience/deadline.js';

/** How long a request's caller waits, as a service sees it (`request.meshkit`). */
export interface RequestDeadline {
  /**
   * When the caller stops waiting: absolute ms on the service's clock, from the request's
   * `x-request-timeout-ms`; undefined when it did not say (or said nonsense). Pass it on as the
   * `deadline` of every call the request makes, so the whole chain gives up together.
   */
  readonly deadline: number | undefined;
  /**
   * Aborts when the deadline passes (reason: an UPSTREAM_TIMEOUT MeshError, a 504) or when the
   * caller hangs up before the answer (reason: a BAD_REQUEST MeshError, answered to nobody).
   * Long work checks it or hands it to what it waits on.
   */
  readonly signal: AbortSignal;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by meshkit's deadline hook on every request of a `defineService` app. */
    meshkit: RequestDeadline;
  }
}

/**
 * Reads `x-request-timeout-ms` on every request and sets `request.meshkit`. A request whose
 * caller has no time left (`x-request-timeout-ms: 0`) is answered 504 at once: its handler never
 * runs, as nobody would wait for what it did.
 */
export function installDeadlines(app: FastifyInstance, clock: Clock = systemClock): void {
  // Null until the hook sets it: the decorator itself must not be a shared object.
  app.decorateRequest('meshkit', null as unknown as RequestDeadline);
  app.addHook('onRequest', (request, reply, done) => {
    const now = clock.now();
    const deadline = deadlineFromHeaders(request.headers, now);
    const controller = new AbortController();
    request.meshkit = { deadline, signal: controller.signal };
    if (deadline !== undefined && deadline - now <= 0) {
      const error = new MeshError(
        'UPSTREAM_TIMEOUT',
        `The caller's deadline had passed when the request arrived (${REQUEST_TIMEOUT_HEADER}: ${request.headers[REQUEST_TIMEOUT_HEADER]})`,
      );
      controller.abort(error);
      done(error);
      return;
    }
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => {
            controller.abort(
              new MeshError('UPSTREAM_TIMEOUT', `The caller's deadline (${REQUEST_TIMEOUT_HEADER}) passed before the answer`),
            );
          }, deadline - now);
    timer?.unref();
    // `close` comes after the response is sent too; only an unfinished response means a hang-up.
    reply.raw.once('close', () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished && !controller.signal.aborted) {
        controller.abort(new MeshError('BAD_REQUEST', 'The caller closed the request before the answer'));
      }
    });
    done();
  });
}
