import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Context } from '@opentelemetry/api';
import type { MeshError } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import type { RawHeaders } from '../wire/raw-headers.js';
import type { ServiceCaller } from './service-caller.js';

/** A request forwarded as bytes (the gateway's proxy path). */
export interface RawServiceRequest {
  method: string;
  /** Path with query string. */
  path: string;
  /** Already stripped of hop-by-hop headers by the caller. */
  headers: Record<string, string | string[]>;
  /**
   * The caller vouches that every header name is a token and every value free of CR, LF, NUL and
   * the other characters a field value may not hold — as they are when read by Node's parser — so
   * the client does not test them again (the gateway sets it for what it forwards). Leave it
   * unset for headers from anywhere else.
   */
  headersChecked?: boolean;
  body?: Buffer | string | Readable | null;
  /** Per-attempt timeout in ms. */
  timeoutMs?: number;
  /** Absolute deadline (ms on the client's clock) bounding every attempt together. */
  deadline?: number;
  /** Attempts at most, first included (the client's default when absent); 1 turns retries off. */
  maxAttempts?: number;
  key?: string;
  signal?: AbortSignal;
  /** The trace context the attempts' CLIENT spans are children of (the gateway's SERVER span's). */
  traceContext?: Context;
}

/**
 * Where an answer goes, in order: `headers`, `data`…, then `end`; or `error` alone (no answer:
 * a MeshError, 502/503/504), or `error` after `headers` (the body broke off). Outcomes are
 * recorded (breaker, outlier detector, in-flight) before `end` or `error` is called.
 */
export interface UpstreamSink {
  /**
   * The answer's head, from `instance`, as llhttp read it with no leniency — so every name is a
   * token and every value free of the characters a field value may not hold (`headersOf` makes
   * Node's header object of it); false pauses reading until the handle's `resume()`.
   */
  headers(status: number, headers: RawHeaders, instance: ServiceInstance): boolean;
  /** A body chunk; false pauses reading until the handle's `resume()`. */
  data(chunk: Buffer): boolean;
  end(): void;
  error(err: MeshError): void;
}

/** A forwarded request in flight. */
export interface ForwardHandle {
  /** The caller gave up: stop the attempt (it gives no verdict on the instance unless its status came). */
  abort(): void;
  /** Read on after the sink paused. */
  resume(): void;
}

/** An upstream answer whose body is still a stream: consume it or destroy it. */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  instance: ServiceInstance;
}

export type CircuitStateName = 'closed' | 'open' | 'half_open';

export interface InstanceSnapshot {
  instance: ServiceInstance;
  circuit: CircuitStateName;
  inFlight: number;
  /** Ejected by the outlier detector (passive health from real traffic) right now. */
  ejected: boolean;
  /** Times the outlier detector ejected it since the client first saw it. */
  ejections: number;
}

export interface ServiceSnapshot {
  name: string;
  instances: InstanceSnapshot[];
}

/** The full client: JSON calls for services, raw dispatch for the gateway, and its view for /registry. */
export interface ServiceDispatcher extends ServiceCaller {
  dispatch(service: string, request: RawServiceRequest): Promise<UpstreamResponse>;
  /** Like `dispatch`, with the answer written into `sink` as it comes: no stream, no promise. */
  forward(service: string, request: RawServiceRequest, sink: UpstreamSink): ForwardHandle;
  /** Every known service and instance (healthy or not) with the client's breaker and load state. */
  snapshot(): ServiceSnapshot[];
  close(): Promise<void>;
}
