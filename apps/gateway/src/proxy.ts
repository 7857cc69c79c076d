import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Clock,
  deadlineFromHeaders,
  MeshError,
  REQUEST_TIMEOUT_HEADER,
  type InjectedFault,
  sendProblem,
  type ForwardHandle,
  type ServiceDispatcher,
  type ServiceInstance,
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

  // A client that says how long it waits (`x-request-timeout-ms`) bounds every attempt together;
  // the upstream is told what remains. Nonsense in the header is ignored, as the services do.
  let deadline: number | undefined;
  if (request.headers[REQUEST_TIMEOUT_HEADER] !== undefined) {
    const now = options.clock.now();
    deadline = deadlineFromHeaders(request.headers, now);
    if (deadline !== undefined && deadline <= now) {
      const detail = `The client's ${REQUEST_TIMEOUT_HEADER} left no time to call ${service}`;
      sendProblem(reply, new MeshError('UPSTREAM_TIMEOUT', detail));
      return;
    }
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

/**
 * The call itself. The response is committed at the upstream's first body byte (or its end): an
 * upstream that breaks off before that is still answered with a 502 problem; one that breaks off
 * later cuts the client's connection. The client hanging up stops the upstream work.
 */
function send(
  request: FastifyRequest,
  reply: FastifyReply,
  service: string,
  options: ProxyOptions,
  deadline: number | undefined,
): void {
  const res = reply.raw;
  let head: { status: number; headers: IncomingHttpHeaders } | undefined;
  let committed = false;
  const onClose = () => {
    if (!res.writableFinished) handle.abort();
  };
  const onDrain = () => handle.resume();
  const commit = (): boolean => {
    committed = true;
    const { status, headers } = head as { status: number; headers: IncomingHttpHeaders };
    const out: OutgoingHttpHeaders = { ...(reply.getHeaders() as OutgoingHttpHeaders), ...clientResponseHeaders(headers) };
    out['x-request-id'] = request.id;
    // Fastify's onSend hooks are skipped on this path: a draining gateway closes the connection itself.
    if (!reply.server.server.listening) out.connection = 'close';
    try {
      res.writeHead(status, out);
    } catch (err) {
      // A header Node refuses to send (a forbidden character): the upstream's fault.
      handle.abort();
      sendProblem(reply, new MeshError('UPSTREAM_FAILED', `${service} sent a header that cannot be passed on`, { cause: err }));
      return false;
    }
    reply.hijack();
    res.on('drain', onDrain);
    return true;
  };

  const handle: ForwardHandle = options.client.forward(
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
      headers: (status, headers, instance) => {
        head = { status, headers };
        options.onUpstream?.(request, instance);
        return true;
      },
      data: (chunk) => {
        if (!committed && !commit()) return false;
        return res.write(chunk);
      },
      end: () => {
        res.off('close', onClose);
        if (!committed && !commit()) return;
        res.off('drain', onDrain);
        res.end();
      },
      error: (err) => {
        res.off('close', onClose);
        res.off('drain', onDrain);
        if (committed) {
          // Mid-body: the client must not take a cut body for a whole one.
          res.destroy(err);
          return;
        }
        if (res.destroyed) {
          // Nobody is listening any more; the access log still hears of it.
          request.log.info({ service }, 'client closed the request before the upstream answered');
        }
        sendProblem(reply, err.status === 502 && head !== undefined ? brokeOff(service, err) : err);
      },
    },
  );
  res.once('close', onClose);
}

// A `.` or `..` segment, also percent-encoded (%2e), in the path part of a URL.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?#]|$)/i;

export function hasDotSegment(url: string): boolean {
  const q = url.indexOf('?');
  return DOT_SEGMENT.test(q === -1 ? url : url.slice(0, q + 1));
}

/** An upstream that sent its head and broke off before any body byte: a 502, as if nothing came. */
function brokeOff(service: string, err: MeshError): MeshError {
  return new MeshError('UPSTREAM_FAILED', `${service} broke off its response`, { cause: err });
}
