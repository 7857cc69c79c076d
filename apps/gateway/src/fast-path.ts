import type { TLSSocket } from 'node:tls';
import {
  accessLineWriter,
  type Clock,
  type EdgeRequest,
  type EdgeResponse,
  type HttpRequestRecorder,
  MeshError,
  problemResponse,
  requestIdOptions,
  type ServiceDispatcher,
} from '@meshkit/toolkit/core';
import type { FastifyBaseLogger } from 'fastify';
import { upstreamRequestHeaders } from './headers.js';
import { clientDeadline } from './client-deadline.js';
import { hasDotSegment } from './proxy.js';
import { relay } from './relay.js';
import { matchRoute, type Route, routeTemplate } from './route-table.js';

/** One proxied request once its response is over: what the dashboard's recent requests keep. */
export interface ServedRequest {
  id: string;
  method: string;
  url: string;
  service: string;
  status: number;
  elapsedMs: number;
  /** The instance that answered; undefined when none did. */
  instanceId: string | undefined;
}

export interface FastPathOptions {
  client: ServiceDispatcher;
  routes: readonly Route[];
  requestTimeoutMs?: number;
  clock: Clock;
  /** The app's logger (the access line) and its request series (`app.httpMetrics`). */
  log: FastifyBaseLogger;
  metrics: HttpRequestRecorder;
  /** Whether the fast path may take new requests now (not while draining, tracing or injecting faults). */
  enabled(): boolean;
  /** True once the gateway drains: a response still relayed then closes its connection. */
  draining(): boolean;
  onServed?(served: ServedRequest): void;
}

/** A front door of the gateway's edge: takes what it can and says so; the rest goes to Fastify. */
export type FastPath = (req: EdgeRequest, res: EdgeResponse) => boolean;

/**
 * The gateway's hot path, beside Fastify: a proxied GET or HEAD without a body, an `Origin` or
 * anything unusual in its path is relayed straight from the edge's request to the upstream and back,
 * with what the full path does for it — request id, the client's deadline, x-forwarded-*, the
 * trace context passed on (or begun), problem+json when no answer comes, `http_requests_total`
 * and `http_request_duration_seconds` under the same labels, the same access line, the dashboard —
 * but without Fastify's per-request objects, child logger and hook chain, which cost more CPU than
 * the proxying itself. Everything else (bodies, CORS, dot segments, injected faults, tracing
 * spans, a draining gateway) takes the full path.
 */
export function fastPath(options: FastPathOptions): FastPath {
  const { client, clock, log, metrics } = options;
  const writeAccessLine = accessLineWriter(log);

  return (req, res) => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const headers = req.headers;
    if (headers.origin !== undefined || headers['transfer-encoding'] !== undefined) return false;
    if (headers['content-length'] !== undefined && headers['content-length'] !== '0') return false;
    const url = req.url ?? '/';
    const route = matchRoute(options.routes, url);
    if (route === undefined || hasDotSegment(url) || !options.enabled()) return false;

    const started = performance.now();
    const id = requestIdOptions.genReqId(req);
    const service = route.service;
    const template = routeTemplate(route, url);
    let instanceId: string | undefined;
    res.once('finish', () => {
      const status = res.statusCode;
      const elapsedMs = performance.now() - started;
      metrics.record(method, template, status, elapsedMs);
      writeAccessLine(id, method, url, template, status, elapsedMs);
      options.onServed?.({ id, method, url, service, status, elapsedMs, instanceId });
    });
    const problem = (err: MeshError) => {
      const answer = problemResponse(err, url);
      answer.headers['x-request-id'] = id;
      answer.headers['content-length'] = String(Buffer.byteLength(answer.body));
      res.writeHead(answer.status, answer.headers);
      res.end(method === 'HEAD' ? undefined : answer.body);
    };

    const deadline = clientDeadline(headers, clock, service);
    if (deadline instanceof MeshError) {
      problem(deadline);
      return true;
    }

    relay(
      client,
      service,
      {
        method,
        path: url,
        headers: upstreamRequestHeaders(headers, {
          requestId: id,
          remoteAddress: req.socket.remoteAddress,
          protocol: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
        }),
        // llhttp read the client's lines (refusing what a writer would), and what the gateway adds
        // is valid by construction: the upstream client need not test them again.
        headersChecked: true,
        body: null,
        timeoutMs: options.requestTimeoutMs,
        deadline,
      },
      {
        res,
        requestId: id,
        ownHeaders: () => ({}),
        committed: () => undefined,
        problem,
        closing: options.draining,
        upstream: (instance) => {
          instanceId = instance.id;
        },
        log,
      },
    );
    return true;
  };
}
