import type { OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Clock,
  MeshError,
  type InjectedFault,
  sendProblem,
  type ServiceDispatcher,
  type ServiceInstance,
} from '@meshkit/toolkit/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { FAULT_HEADER, type FaultInjector, sendInjectedAbort } from './fault-injection.js';
import { upstreamRequestHeaders } from './headers.js';
import { clientDeadline } from './client-deadline.js';
import { relay } from './relay.js';
import type { Route } from './route-table.js';

/** Every method the gateway forwards; the upstream decides which ones a path supports. */
export const proxiedMethods: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export interface ProxyOptions {
  client: ServiceDispatcher;
  routes: readonly Route[];
  /** Per-attempt upstream timeout in ms; the client's default when absent. */
  requestTimeoutMs?: number;
  /** Injected delays and aborts; none when absent. */
  faults?: FaultInjector;
  /** Reads the time a client's `x-request-timeout-ms` counts from. */
  clock: Clock;
  /** Told which instance answered a request (the dashboard's recent requests). */
  onUpstream?: (request: FastifyRequest, instance: ServiceInstance) => void;
}

/**
 * The proxy routes, in their own encapsulated scope: bodies stay raw bytes there (the upstream
 * validates them; the gateway never parses JSON), while the app's body limit, request ids and
 * problem+json error handling still apply.
 */
export async function proxyPlugin(scope: FastifyInstance, options: ProxyOptions): Promise<void> {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const route of options.routes) {
    const handler = (request: FastifyRequest, reply: FastifyReply) => forward(request, reply, route.service, options);
    // The collection itself (`/users`, `/users?x`) and everything below it (`/users/...`).
    for (const url of [route.prefix, `${route.prefix}/*`]) {
      scope.route({ method: proxiedMethods, url, exposeHeadRoute: false, handler });
    }
  }
}

/**
 * Forwards one request. Nothing is returned to Fastify: the answer is sent by `sendProblem` (no
 * answer came) or written straight to the raw response as the upstream's bytes arrive (Fastify's
 * onResponse hooks still run: metrics, access log, spans, dashboard).
 */
function forward(request: FastifyRequest, reply: FastifyReply, service: string, options: ProxyOptions): void {
  if (hasDotSegment(request.url)) {
    // `/users/../internal/x` must not reach past the prefix at an upstream that normalises paths.
    sendProblem(reply, new MeshError('BAD_REQUEST', 'The path must not contain "." or ".." segments'));
    return;
  }

  const deadline = clientDeadline(request.headers, options.clock, service);
  if (deadline instanceof MeshError) {
    sendProblem(reply, deadline);
    return;
  }

  const fault = options.faults?.decide(request.url, service);
  if (fault === undefined) send(request, reply, service, options, deadline);
  else void withFault(request, reply, service, options, deadline, fault);
}

/** An injected delay (cut short if the client goes away), then an injected abort or the real call. */
async function withFault(
  request: FastifyRequest,
  reply: FastifyReply,
  service: string,
  options: ProxyOptions,
  deadline: number | undefined,
  fault: InjectedFault,
): Promise<void> {
  reply.header(FAULT_HEADER, fault.header);
  if (fault.delayMs > 0) {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    try {
      await sleep(fault.delayMs, undefined, { signal: gone.signal });
    } catch {
      // The client went away during the delay: the upstream is never called. 499 (nginx's
      // "client closed request") reaches nobody; it tells the access log what happened.
      request.log.info({ service }, 'client closed the request during an injected delay');
      reply.code(499).send();
      return;
    } finally {
      reply.raw.off('close', onClose);
    }
  }
  if (fault.abortStatus !== undefined) {
    request.log.debug({ service, status: fault.abortStatus, rule: fault.rule.prefix }, 'injected abort');
    sendInjectedAbort(reply, fault, service);
    return;
  }
  send(request, reply, service, options, deadline);
}

/** The call, its answer written straight to the raw response (Fastify's onSend hooks are skipped). */
function send(
  request: FastifyRequest,
  reply: FastifyReply,
  service: string,
  options: ProxyOptions,
  deadline: number | undefined,
): void {
  relay(
    options.client,
    service,
    {
      method: request.method,
      path: request.url,
      headers: upstreamRequestHeaders(request.headers, {
        requestId: request.id,
        remoteAddress: request.socket.remoteAddress,
        protocol: request.protocol,
      }),
      body: Buffer.isBuffer(request.body) ? request.body : null,
      timeoutMs: options.requestTimeoutMs,
      deadline,
      // The gateway's SERVER span parents the CLIENT span of each attempt.
      traceContext: request.traceContext,
    },
    {
      res: reply.raw,
      requestId: request.id,
      ownHeaders: () => ({ ...(reply.getHeaders() as OutgoingHttpHeaders) }),
      committed: () => reply.hijack(),
      problem: (err) => sendProblem(reply, err),
      closing: () => !reply.server.server.listening,
      upstream: (instance) => options.onUpstream?.(request, instance),
      log: request.log,
    },
  );
}

// A `.` or `..` segment, also percent-encoded (%2e), in the path part of a URL.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?#]|$)/i;

export function hasDotSegment(url: string): boolean {
  const q = url.indexOf('?');
  return DOT_SEGMENT.test(q === -1 ? url : url.slice(0, q + 1));
}
