import {
  type Attributes,
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { ServiceInstance } from '../registry/instance.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from './semconv.js';
import { ATTR_MESHKIT_INSTANCE } from './server-spans.js';
import { type TraceContext, traceServiceOf, tracerFor, tracingInstalled } from './tracing.js';

export const ATTR_PEER_SERVICE = 'peer.service';
/** The attempt's number, the first being 1 (`http.request.resend_count` is this minus one). */
export const ATTR_MESHKIT_ATTEMPT = 'meshkit.attempt';

/** One attempt's CLIENT span, and the trace headers that make the callee's span its child. */
export interface ClientSpan {
  span: Span;
  /** `traceparent` (and `tracestate`) naming the span; empty when tracing is off. */
  headers: Record<string, string>;
}

const NO_CLIENT_SPAN: ClientSpan = Object.freeze({
  span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT),
  headers: Object.freeze({}) as Record<string, string>,
});

/**
 * Starts the CLIENT span of one attempt to `instance`, named `METHOD service`, a child of `parent`
 * (the caller's request context; the active context when none is given). Its service is the
 * caller's, as the SERVER span hook put it in the context.
 */
export function startClientSpan(
  parent: TraceContext | undefined,
  method: string,
  instance: ServiceInstance,
  attempt: number,
): ClientSpan {
  // No SDK: the span would be a no-op and the propagator writes nothing; skip the work per attempt.
  if (!tracingInstalled()) return NO_CLIENT_SPAN;
  const ctx = parent ?? context.active();
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: method,
    [ATTR_SERVER_ADDRESS]: instance.host,
    [ATTR_SERVER_PORT]: instance.port,
    [ATTR_PEER_SERVICE]: instance.service,
    [ATTR_MESHKIT_INSTANCE]: instance.id,
    [ATTR_MESHKIT_ATTEMPT]: attempt,
  };
  if (attempt > 1) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = attempt - 1;
  const span = tracerFor(traceServiceOf(ctx)).startSpan(
    `${method} ${instance.service}`,
    { kind: SpanKind.CLIENT, attributes },
    ctx,
  );
  const headers: Record<string, string> = {};
  // The no-op propagator (tracing off) writes nothing: the caller's headers go unchanged.
  propagation.inject(trace.setSpan(ctx, span), headers);
  return { span, headers };
}

/** Ends an attempt's span: its status, or why none came (error code); ERROR on failure or 5xx. */
export function endClientSpan(span: Span, status: number | undefined, error: string | undefined): void {
  if (!span.isRecording()) return;
  if (status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (error !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  } else if (status !== undefined && status >= 500) {
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
