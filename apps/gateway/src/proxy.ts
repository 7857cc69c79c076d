import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Clock,
  deadlineFromHeaders,
  isMeshError,
  MeshError,
  REQUEST_TIMEOUT_HEADER,
  sendProblem,
  type ServiceDispatcher,
  type ServiceInstance,
  type UpstreamResponse,
} from '@meshkit/toolkit';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { FAULT_HEADER, type FaultInjector, sendInjectedAbort } from './fault-injection.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
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

async function forward(
  request: FastifyRequest,
  reply: FastifyReply,
  service: string,
  options: ProxyOptions,
): Promise<FastifyReply> {
  if (hasDotSegment(request.url)) {
    // `/users/../internal/x` must not reach past the prefix at an upstream that normalises paths.
    return sendProblem(reply, new MeshError('BAD_REQUEST', 'The path must not contain "." or ".." segments'));
  }

  // A client that says how long it waits (`x-request-timeout-ms`) bounds every attempt together;
  // the upstream is told what remains. Nonsense in the header is ignored, as the services do.
  let deadline: number | undefined;
  if (request.headers[REQUEST_TIMEOUT_HEADER] !== undefined) {
    const now = options.clock.now();
    deadline = deadlineFromHeaders(request.headers, now);
    if (deadline !== undefined && deadline <= now) {
      return sendProblem(
        reply,
        new MeshError('UPSTREAM_TIMEOUT', `The client's ${REQUEST_TIMEOUT_HEADER} left no time to call ${service}`),
      );
    }
  }

  // The client hanging up before the answer: stop the upstream work it no longer waits for.
  const abort = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);

  const fault = options.faults?.decide(request.url, service);
  if (fault !== undefined) {
    reply.header(FAULT_HEADER, fault.header);
    if (fault.delayMs > 0) {
      try {
        await sleep(fault.delayMs, undefined, { signal: abort.signal });
      } catch {
        // The client went away during the delay: the upstream is never called. 499 (nginx's
        // "client closed request") reaches nobody; it tells the access log what happened.
        reply.raw.off('close', onClose);
        request.log.info({ service }, 'client closed the request during an injected delay');
        return reply.code(499).send();
      }
    }
    if (fault.abortStatus !== undefined) {
      reply.raw.off('close', onClose);
      request.log.debug({ service, status: fault.abortStatus, rule: fault.rule.prefix }, 'injected abort');
      return sendInjectedAbort(reply, fault, service);
    }
  }

  let upstream: UpstreamResponse;
  try {
    upstream = await options.client.dispatch(service, {
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
      signal: abort.signal,
      // The gateway's SERVER span parents the CLIENT span of each attempt.
      traceContext: request.traceContext,
    });
  } catch (err) {
    reply.raw.off('close', onClose);
    if (abort.signal.aborted) {
      // Nobody is listening any more; Fastify discards what is sent on a closed response.
      request.log.info({ service }, 'client closed the request before the upstream answered');
    }
    return sendProblem(reply, asUpstreamError(err, service));
  }

  options.onUpstream?.(request, upstream.instance);
  reply.code(upstream.statusCode);
  reply.headers(clientResponseHeaders(upstream.headers));
  reply.header('x-request-id', request.id);
  if (fault !== undefined) reply.header(FAULT_HEADER, fault.header);
  return reply.send(guardBody(upstream.body, service, abort));
}

// A `.` or `..` segment, also percent-encoded (%2e), in the path part of a URL.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?#]|$)/i;

export function hasDotSegment(url: string): boolean {
  const q = url.indexOf('?');
  return DOT_SEGMENT.test(q === -1 ? url : url.slice(0, q + 1));
}

/** A failure the client can be told about: MeshErrors as they are, anything else a 502. */
function asUpstreamError(err: unknown, service: string): MeshError {
  if (isMeshError(err)) return err;
  return new MeshError('UPSTREAM_FAILED', `${service} could not be reached`, { cause: err });
}

/**
 * The upstream body as the client receives it. An upstream that breaks off before the first
 * byte is written becomes a 502 (not a 500); a client that goes away mid-body stops the upstream.
 */
function guardBody(body: Readable, service: string, abort: AbortController): Readable {
  const out = new PassThrough();
  body.once('error', (err) => {
    out.destroy(new MeshError('UPSTREAM_FAILED', `${service} broke off its response`, { cause: err }));
  });
  out.once('close', () => {
    if (!body.readableEnded) {
      abort.abort();
      body.destroy();
    }
  });
  body.pipe(out);
  return out;
}
