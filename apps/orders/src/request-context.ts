/** What a use case carries from the incoming request to the calls it makes on other services. */
export interface RequestContext {
  /** Propagated as `x-request-id`. */
  requestId?: string;
  /** W3C trace context of the incoming request, propagated as is. */
  traceparent?: string;
  /** Where best-effort failures (a compensation that did not go through) are reported. */
  log?: WarnLog;
}

/** The one logging call the use cases make; pino's loggers fit. */
export interface WarnLog {
  warn(obj: object, msg?: string): void;
}

/** The request id and trace context to pass on to a ServiceCaller, when there are any. */
export function traceOf(ctx: RequestContext): { requestId?: string; traceparent?: string } {
  return {
    ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    ...(ctx.traceparent === undefined ? {} : { traceparent: ctx.traceparent }),
  };
}
