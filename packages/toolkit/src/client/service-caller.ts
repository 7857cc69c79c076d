import type { IncomingHttpHeaders } from 'node:http';
import type { Context } from '@opentelemetry/api';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface ServiceRequest {
  method: HttpMethod;
  /** Path with query string, e.g. `/users/42?x=1`. */
  path: string;
  headers?: Record<string, string>;
  /** Sent as JSON when an object; as-is when a string or Buffer. */
  body?: unknown;
  /** Per-attempt timeout in ms (default from the client's config). */
  timeoutMs?: number;
  /** Absolute deadline (ms on the client's clock) bounding every attempt together. */
  deadline?: number;
  /** Attempts at most, first included (the client's default when absent); 1 turns retries off. */
  maxAttempts?: number;
  /** Key for the consistent_hash strategy. */
  key?: string;
  /** Request id / trace context to propagate; taken from here when not in headers. */
  requestId?: string;
  traceparent?: string;
  /**
   * The caller's trace context (`request.traceContext` of the request being served): each attempt's
   * CLIENT span is its child, and the `traceparent` sent names that span. Default: the active one.
   */
  traceContext?: Context;
}

export interface ServiceResponse<T = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the response is JSON, otherwise the text; undefined when empty. */
  body: T;
  /** The instance that answered. */
  instanceId: string;
}

/**
 * What a service needs to call another service. The ServiceClient implements it over discovery,
 * balancing, breakers and pooled HTTP; tests may use a tiny implementation over `fastify.inject`.
 * Network-level failures reject with a MeshError (NO_HEALTHY_INSTANCE, UPSTREAM_FAILED,
 * UPSTREAM_TIMEOUT); any HTTP status, 4xx or 5xx, resolves.
 */
export interface ServiceCaller {
  call<T = unknown>(service: string, request: ServiceRequest): Promise<ServiceResponse<T>>;
  /**
   * Throws, at once and sending nothing, the NO_HEALTHY_INSTANCE MeshError (503 + Retry-After) a
   * call would fail with now: no instance, or every one behind an open breaker. A request that
   * cannot succeed without `service` checks first and fails fast, before doing work of its own.
   */
  ensureAvailable?(service: string): void;
}
