import type { TraceContext } from '@meshkit/toolkit';

/** What a use case carries from the incoming request to the calls it makes on other services. */
export interface RequestContext {
  /** Propagated as `x-request-id`. */
  requestId?: string;
  /** W3C trace context of the incoming request, propagated as is when tracing is off. */
  traceparent?: string;
  /** The request's span context (`request.traceContext`): the calls' CLIENT spans are its children. */
  traceContext?: TraceContext;
  /**
   * When the caller stops waiting (absolute ms on the service's clock, from its
   * `x-request-timeout-ms`): every call made for the request gets it as its deadline, so a caller
   * that gave up stops the whole chain.
   */
  deadline?: number;
  /** Aborts when the caller gave up (deadline passed or hung up): no new work is started then. */
  signal?: AbortSignal;
  /** Per-attempt timeout of the calls, ms; the caller's default when absent. */
  timeoutMs?: number;
  /** Where best-effort failures (a compensation that did not go through) are reported. */
  log?: WarnLog;
}

/** The one logging call the use cases make; pino's loggers fit. */
export interface WarnLog {
  warn(obj: object, msg?: string): void;
}

/**
 * How long a compensation (releasing what a failed or lost request reserved) may take. It runs
 * when the request's own deadline may be spent already, and must still go through: it gets its
 * own short budget instead, per attempt.
 */
export const COMPENSATION_TIMEOUT_MS = 2000;

type TraceOptions = { requestId?: string; traceparent?: string; traceContext?: TraceContext };

/** The request id and trace context to pass on to a ServiceCaller, when there are any. */
export function traceOf(ctx: RequestContext): TraceOptions {
  return {
    ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
    ...(ctx.traceparent === undefined ? {} : { traceparent: ctx.traceparent }),
    ...(ctx.traceContext === undefined ? {} : { traceContext: ctx.traceContext }),
  };
}

/** What a call made for this request carries: trace, deadline and timeout, when there are any. */
export function callOptionsOf(ctx: RequestContext): TraceOptions & { deadline?: number; timeoutMs?: number } {
  return {
    ...traceOf(ctx),
    ...(ctx.deadline === undefined ? {} : { deadline: ctx.deadline }),
    ...(ctx.timeoutMs === undefined ? {} : { timeoutMs: ctx.timeoutMs }),
  };
}

/**
 * The context of a compensation for the request of `ctx`: the same trace and log, but not bound by
 * its deadline or signal (they may be dead), with COMPENSATION_TIMEOUT_MS per attempt instead.
 */
export function compensationOf(ctx: RequestContext): RequestContext {
  return {
    ...traceOf(ctx),
    timeoutMs: COMPENSATION_TIMEOUT_MS,
    ...(ctx.log === undefined ? {} : { log: ctx.log }),
  };
}
