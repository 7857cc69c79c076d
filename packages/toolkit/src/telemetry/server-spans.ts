import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from './semconv.js';
import { type TraceContext, tracerFor, withTraceService } from './tracing.js';
import { urlPath } from '../wire/url-path.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * This request's trace context: its SERVER span, a child of the caller's `traceparent`. Pass it
     * as `traceContext` to the calls made for the request. (Handlers also run inside it, so
     * `context.active()` is it there, but an explicit value survives any callback or queue.)
     */
    traceContext: TraceContext;
  }
}

/** Who a server's spans belong to. */
export interface TraceIdentity {
  /** `service.name` of the spans (unless OTEL_SERVICE_NAME overrides it), e.g. `user-service`. */
  service: string;
  /** The instance id, as the `meshkit.instance` attribute. */
  instance?: string;
}

export const ATTR_MESHKIT_SERVICE = 'meshkit.service';
export const ATTR_MESHKIT_INSTANCE = 'meshkit.instance';
export const ATTR_MESHKIT_REQUEST_ID = 'meshkit.request_id';

/** Scrapes and probes, which come every few seconds, make no spans (calls they make still propagate). */
const UNTRACED_ROUTES = new Set(['/metrics', '/health', '/health/live', '/health/ready']);

/** W3C trace-context `traceparent`, version 00: its trace id. */
const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key],
};

/**
 * A SERVER span per request, named `METHOD /route/template`, parented on the incoming
 * `traceparent`/`tracestate`, ended when the response is over (status ERROR on a 5xx or when the
 * connection broke off first), its context as `request.traceContext`. With no SDK installed the
 * spans are the API's no-ops and the incoming trace context is passed on unchanged by the client.
 */
export function installServerSpans(app: FastifyInstance, identity: TraceIdentity): void {
  app.decorateRequest('traceContext', null as unknown as TraceContext);
  const spans = new WeakMap<FastifyReply, Span>();

  app.addHook('onRequest', (request, reply, done) => {
    const parent = withTraceService(propagation.extract(ROOT_CONTEXT, request.headers, headerGetter), identity.service);
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED_ROUTES.has(route)) {
      request.traceContext = parent;
      return done();
    }
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: request.method,
      [ATTR_URL_PATH]: urlPath(request.url),
      [ATTR_MESHKIT_SERVICE]: identity.service,
      [ATTR_MESHKIT_REQUEST_ID]: request.id,
    };
    if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
    if (identity.instance !== undefined) attributes[ATTR_MESHKIT_INSTANCE] = identity.instance;
    const span = tracerFor(identity.service).startSpan(
      route === undefined ? request.method : `${request.method} ${route}`,
      { kind: SpanKind.SERVER, attributes },
      parent,
    );
    request.traceContext = trace.setSpan(parent, span);
    bindTraceToLogs(request, reply);
    if (span.isRecording()) {
      spans.set(reply, span);
      // No onResponse when the connection closes before the response is complete.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) endServerSpan(spans, reply, 'connection closed before the response was sent');
      });
    }
    done();
  });

  // Run the handler inside the request's context: spans users start there, and calls that are not
  // given a context, get the right parent. (Earlier hooks, around body parsing, cannot carry it.)
  app.addHook('preHandler', (request, _reply, done) => {
    context.with(request.traceContext, done);
  });

  app.addHook('onResponse', (_request, reply, done) => {
    endServerSpan(spans, reply, undefined);
    done();
  });
}

/** The trace id of a W3C `traceparent` (version 00), or undefined. */
function traceIdOf(header: string | string[] | undefined): string | undefined {
  const match = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
  return match === null || match[1] === ZERO_TRACE_ID ? undefined : match[1];
}

/**
 * Fastify's `childLoggerFactory`: the request's logger, with the `traceId` of the caller's
 * `traceparent` bound at once (no SDK needed), so a traced request costs no second child logger.
 */
export const childLoggerWithTrace: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options, raw) => {
  const traceId = traceIdOf(raw.headers.traceparent);
  return logger.child(traceId === undefined ? bindings : { ...bindings, traceId }, options);
};

/**
 * Every line logged for the request (the access line included) carries `traceId`, and `spanId`
 * when a span records: the caller's trace id is bound with the request's logger
 * (`childLoggerWithTrace`); a SERVER span adds its span id (and the trace id of a trace it began).
 */
function bindTraceToLogs(request: FastifyRequest, reply: FastifyReply): void {
  const sc = trace.getSpanContext(request.traceContext);
  if (sc === undefined || !isSpanContextValid(sc)) return;
  const bound = traceIdOf(request.headers.traceparent);
  request.log = request.log.child(bound === sc.traceId ? { spanId: sc.spanId } : { traceId: sc.traceId, spanId: sc.spanId });
  // Fastify gives the reply its own reference to the request's logger; its error lines use that one.
  reply.log = request.log;
}

function endServerSpan(spans: WeakMap<FastifyReply, Span>, reply: FastifyReply, brokenOff: string | undefined): void {
  const span = spans.get(reply);
  if (!span) return;
  spans.delete(reply);
  if (brokenOff !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, 'connection_closed');
    span.setStatus({ code: SpanStatusCode.ERROR, message: brokenOff });
  } else {
    const status = reply.statusCode;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  span.end();
}
