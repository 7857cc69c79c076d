import type { ServerResponse } from 'node:http';
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
 * runs, as nobody would wait for what it did. The signal, its timer and its hang-up listener are
 * made the first time a handler reads `signal`: most handlers never do, and pay nothing for it.
 */
export function installDeadlines(app: FastifyInstance, clock: Clock = systemClock): void {
  // Null until the hook sets it: the decorator itself must not be a shared object.
  app.decorateRequest('meshkit', null as unknown as RequestDeadline);
  app.addHook('onRequest', (request, reply, done) => {
    const now = clock.now();
    const deadline = request.headers[REQUEST_TIMEOUT_HEADER] === undefined ? undefined : deadlineFromHeaders(request.headers, now);
    request.meshkit = new LazyDeadline(deadline, reply.raw, clock);
    if (deadline !== undefined && deadline - now <= 0) {
      done(
        new MeshError(
          'UPSTREAM_TIMEOUT',
          `The caller's deadline had passed when the request arrived (${REQUEST_TIMEOUT_HEADER}: ${request.headers[REQUEST_TIMEOUT_HEADER]})`,
        ),
      );
      return;
    }
    done();
  });
}

/** `request.meshkit`: the deadline at once, the signal when first asked for. */
class LazyDeadline implements RequestDeadline {
  private controller: AbortController | undefined;

  constructor(
    readonly deadline: number | undefined,
    private readonly response: ServerResponse,
    private readonly clock: Clock,
  ) {}

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const passed = () =>
      new MeshError('UPSTREAM_TIMEOUT', `The caller's deadline (${REQUEST_TIMEOUT_HEADER}) passed before the answer`);
    const hungUp = () => new MeshError('BAD_REQUEST', 'The caller closed the request before the answer');
    const res = this.response;
    if (res.destroyed && !res.writableFinished) {
      controller.abort(hungUp());
      return controller.signal;
    }
    const left = this.deadline === undefined ? undefined : this.deadline - this.clock.now();
    if (left !== undefined && left <= 0) {
      controller.abort(passed());
      return controller.signal;
    }
    const timer = left === undefined ? undefined : setTimeout(() => controller.abort(passed()), left);
    timer?.unref();
    // `close` comes after the response is sent too; only an unfinished response means a hang-up.
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished && !controller.signal.aborted) controller.abort(hungUp());
    });
    return controller.signal;
  }
}
