import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { SeriesIndex, SeriesMetric } from './labelled-series.js';

/** A Prometheus registry (prom-client's `Registry`; named apart from the service registry). */
export type MetricsRegistry = Registry;

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry, served at `/metrics`: add your own collectors to it. */
    metrics: Registry;
    /** Its request series, for requests answered beside Fastify's hooks (the gateway's fast path). */
    httpMetrics: HttpRequestRecorder;
  }
}

export const METRICS_PATH = '/metrics';

/** The buckets of every request-duration histogram, in seconds. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The route label of a request no route matched: raw paths would make a series per path. */
export const UNMATCHED_ROUTE = 'not_found';

let processRegistry: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event loop lag, GC, handles), collected once per process.
 * Default metrics describe the process, not an app; and each `collectDefaultMetrics` call starts
 * its own event-loop monitor and GC observer that nothing stops, so one per app would pile up in
 * tests and in the one-process shop.
 */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What `/metrics` serves: the app's registry, then the process's metrics. */
export async function metricsText(registry: Registry): Promise<string> {
  const own = await registry.metrics();
  const processText = await processMetrics().metrics();
  return own.endsWith('\n') || own.length === 0 ? own + processText : `${own}\n${processText}`;
}

/** Counts one answered request in an app's request series. */
export interface HttpRequestRecorder {
  /** Its route template (never a raw path), status and time in ms. */
  record(method: string, route: string, status: number, elapsedMs: number): void;
}

/** `http_requests_total` and `http_request_duration_seconds` in `registry`, from one set of series. */
export class HttpRequestMetrics implements HttpRequestRecorder {
  private readonly series = new SeriesIndex(['method', 'route', 'status_code'], DURATION_BUCKETS_SECONDS);

  constructor(registry: Registry) {
    new SeriesMetric(
      'http_requests_total',
      'HTTP requests answered, by method, route template and status code',
      'counter',
      this.series,
    ).register(registry);
    new SeriesMetric(
      'http_request_duration_seconds',
      'Time from receiving a request to the end of its response, by method, route template and status code',
      'histogram',
      this.series,
    ).register(registry);
  }

  record(method: string, route: string, status: number, elapsedMs: number): void {
    this.series.observe(elapsedMs / 1000, method, route, status);
  }
}

/**
 * Request metrics and `GET /metrics` on `app`, with a registry of its own (`app.metrics`), so apps
 * in one process (tests, the one-process shop) never share series:
 * `http_requests_total` and `http_request_duration_seconds`, labelled by method, the route
 * TEMPLATE (`/users/:id`; `not_found` when no route matched) and status code. `/metrics` itself is
 * not counted. One counter increment and one histogram observation per request.
 */
export function installHttpMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  const http = new HttpRequestMetrics(registry);
  app.decorate('metrics', registry);
  app.decorate('httpMetrics', http);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== METRICS_PATH) http.record(request.method, route ?? UNMATCHED_ROUTE, reply.statusCode, reply.elapsedTime);
    done();
  });
  app.get(METRICS_PATH, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return metricsText(registry);
  });
  return registry;
}
