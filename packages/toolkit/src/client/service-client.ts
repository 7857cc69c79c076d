import type { IncomingHttpHeaders } from 'node:http';
import { finished, Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { createStrategy } from '../balancing/create-strategy.js';
import { PeakEwma } from '../balancing/peak-ewma.js';
import type { RandomSource } from '../balancing/random.js';
import type { BalancerStrategy, Candidate, StrategyName } from '../balancing/strategy.js';
import { type Clock, systemClock } from '../clock.js';
import type { InstanceSource } from '../discovery/instance-source.js';
import { MeshError } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { ServiceRequest, ServiceResponse } from './service-caller.js';
import type {
  RawServiceRequest,
  ServiceDispatcher,
  ServiceSnapshot,
  UpstreamResponse,
} from './upstream.js';

/** The slice of a pino logger the client uses. */
export interface ServiceClientLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ServiceClientOptions {
  source: InstanceSource;
  /** Strategy for every service without its own entry in `strategies`. Default `round_robin`. */
  strategy?: StrategyName;
  /** Per-service strategy, by service name. */
  strategies?: Record<string, StrategyName>;
  /** Per-instance breakers. Defaults: 5 consecutive failures, open 60 s. */
  breaker?: { threshold?: number; openMs?: number };
  /** TCP connect timeout, ms. Default 2000. */
  connectTimeoutMs?: number;
  /** Per-attempt timeout for headers and between body chunks, ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Keep-alive connections per instance. Default 64. */
  connections?: number;
  clock?: Clock;
  /** For the `random` and `p2c_ewma` strategies. */
  random?: RandomSource;
  logger?: ServiceClientLogger;
}

/** Errors that mean no byte of the request reached the instance: safe to send elsewhere. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The error code of a network error: on the error, its cause, or the first of an AggregateError. */
function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: { code?: unknown }[] };
  for (const code of [e?.code, e?.cause?.code, e?.errors?.[0]?.code]) {
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** What the client knows of one instance: its breaker, its load, its connection pool. */
class InstanceState implements Candidate {
  inFlight = 0;
  private pool: Pool | undefined;

  constructor(
    public instance: ServiceInstance,
    readonly breaker: CircuitBreaker,
    readonly latency: PeakEwma,
    private readonly poolOptions: Pool.Options,
  ) {}

  get origin(): string {
    const host = this.instance.host.includes(':') ? `[${this.instance.host}]` : this.instance.host;
    return `http://${host}:${this.instance.port}`;
  }

  cost(): number {
    return this.latency.get() * (this.inFlight + 1);
  }

  /** The pool, created on first use. */
  connections(): Pool {
    this.pool ??= new Pool(this.origin, this.poolOptions);
    return this.pool;
  }

  /** Takes the latest registration; a new address means a new pool. */
  update(instance: ServiceInstance): void {
    const before = this.origin;
    this.instance = instance;
    if (this.origin !== before) void this.closePool();
  }

  /** Closes the pool gracefully: requests already sent finish first. */
  async closePool(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close().catch(() => undefined);
  }
}

interface Outgoing {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer | string | Readable | null | undefined;
  timeoutMs: number;
  key: string | undefined;
  signal: AbortSignal | undefined;
}

interface Answer {
  response: Dispatcher.ResponseData;
  state: InstanceState;
  /** Settles once the body is over and the outcome and in-flight count are recorded. */
  settled: Promise<void>;
}

/**
 * Calls services by name: discovery view → healthy, breaker-available instances → strategy →
 * breaker permit → pooled keep-alive HTTP (undici), measuring in-flight requests and latency.
 * A connection that failed before sending is retried once on another instance; nothing else is.
 */
export class ServiceClient implements ServiceDispatcher {
  private readonly source: InstanceSource;
  private readonly clock: Clock;
  private readonly defaultStrategy: StrategyName;
  private readonly strategyByService: Record<string, StrategyName>;
  private readonly breakerOptions: { threshold?: number; openMs?: number };
  private readonly requestTimeoutMs: number;
  private readonly poolOptions: Pool.Options;
  private readonly random: RandomSource | undefined;
  private readonly logger: ServiceClientLogger | undefined;
  private readonly strategies = new Map<string, BalancerStrategy>();
  private readonly states = new Map<string, InstanceState>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(options: ServiceClientOptions) {
    this.source = options.source;
    this.clock = options.clock ?? systemClock;
    this.defaultStrategy = options.strategy ?? 'round_robin';
    this.strategyByService = { ...options.strategies };
    this.breakerOptions = { ...options.breaker };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.random = options.random;
    this.logger = options.logger;
    this.poolOptions = {
      connections: options.connections ?? 64,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
    };
    this.unsubscribe = this.source.onChange((service) => this.forgetDeparted(service));
  }

  async call<T = unknown>(service: string, request: ServiceRequest): Promise<ServiceResponse<T>> {
    const headers: IncomingHttpHeaders = { accept: 'application/json' };
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      headers[name.toLowerCase()] = value;
    }
    if (request.requestId !== undefined) headers['x-request-id'] ??= request.requestId;
    if (request.traceparent !== undefined) headers.traceparent ??= request.traceparent;
    const body = encodeBody(request.body, headers);
    const { response, state, settled } = await this.send(service, {
      method: request.method,
      path: request.path,
      headers,
      body,
      timeoutMs: request.timeoutMs ?? this.requestTimeoutMs,
      key: request.key,
      signal: undefined,
    });
    let text: string;
    try {
      text = await response.body.text();
    } catch (err) {
      throw this.toMeshError(err, service, state.instance);
    } finally {
      // Resolve only after the breaker saw this outcome: the caller's next call must see it too.
      await settled;
    }
    return {
      status: response.statusCode,
      headers: response.headers,
      body: decodeBody(text, response.headers, service) as T,
      instanceId: state.instance.id,
    };
  }

  async dispatch(service: string, request: RawServiceRequest): Promise<UpstreamResponse> {
    const { response, state } = await this.send(service, {
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      timeoutMs: request.timeoutMs ?? this.requestTimeoutMs,
      key: request.key,
      signal: request.signal,
    });
    return {
      statusCode: response.statusCode,
      headers: response.headers,
      body: response.body,
      instance: state.instance,
    };
  }

  snapshot(): ServiceSnapshot[] {
    return this.source.services().map((name) => ({
      name,
      instances: this.source.instances(name).map((instance) => {
        const state = this.states.get(instance.id);
        return {
          instance,
          circuit: state?.breaker.state ?? 'closed',
          inFlight: state?.inFlight ?? 0,
        };
      }),
    }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    const states = [...this.states.values()];
    this.states.clear();
    await Promise.all(states.map((s) => s.closePool()));
  }

  /** One attempt, and a second on another instance when the first never reached its instance. */
  private async send(service: string, req: Outgoing): Promise<Answer> {
    if (this.closed) throw new MeshError('UPSTREAM_FAILED', 'the service client is closed');
    const first = this.choose(service, req.key, new Set());
    try {
      return await this.attempt(first, req);
    } catch (err) {
      const replayable = !(req.body instanceof Readable);
      const code = errorCode(err);
      if (replayable && code !== undefined && NOT_SENT_CODES.has(code) && !req.signal?.aborted) {
        const second = this.chooseOther(service, req.key, first);
        if (second) {
          this.logger?.debug(
            { service, instance: first.instance.id, retryOn: second.instance.id, code },
            'connection failed before sending; retrying on another instance',
          );
          try {
            return await this.attempt(second, req);
          } catch (retryErr) {
            throw this.toMeshError(retryErr, service, second.instance);
          }
        }
      }
      throw this.toMeshError(err, service, first.instance);
    }
  }

  /** Picks and admits an instance, or explains with a 503 why none can take the request. */
  private choose(service: string, key: string | undefined, exclude: Set<string>): InstanceState {
    const chosen = this.pick(service, key, exclude);
    if (chosen) return chosen;
    const healthy = this.healthyStates(service);
    if (healthy.length === 0) {
      throw new MeshError('NO_HEALTHY_INSTANCE', `no healthy instance of ${service}`, {
        retryAfter: 1,
      });
    }
    const waitMs = Math.min(...healthy.map((s) => s.breaker.retryAfterMs()));
    throw new MeshError(
      'NO_HEALTHY_INSTANCE',
      `every instance of ${service} has an open circuit breaker`,
      { retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) },
    );
  }

  private chooseOther(service: string, key: string | undefined, tried: InstanceState) {
    return this.pick(service, key, new Set([tried.instance.id]));
  }

  /** Healthy, breaker-available candidates (filtered before the strategy) → pick → permit. */
  private pick(
    service: string,
    key: string | undefined,
    exclude: Set<string>,
  ): InstanceState | undefined {
    let candidates = this.healthyStates(service).filter(
      (s) => !exclude.has(s.instance.id) && s.breaker.available(),
    );
    const strategy = this.strategyFor(service);
    while (candidates.length > 0) {
      const chosen = strategy.pick(candidates, key === undefined ? {} : { key }) as InstanceState;
      if (chosen.breaker.acquire()) return chosen;
      candidates = candidates.filter((c) => c !== chosen);
    }
    return undefined;
  }

  private healthyStates(service: string): InstanceState[] {
    return this.source
      .instances(service)
      .filter((i) => i.status === 'healthy')
      .map((i) => this.stateOf(i));
  }

  private stateOf(instance: ServiceInstance): InstanceState {
    let state = this.states.get(instance.id);
    if (state) {
      if (state.instance !== instance) state.update(instance);
      return state;
    }
    state = new InstanceState(
      instance,
      new CircuitBreaker({ ...this.breakerOptions, clock: this.clock }),
      new PeakEwma({ clock: this.clock }),
      this.poolOptions,
    );
    this.states.set(instance.id, state);
    return state;
  }

  private strategyFor(service: string): BalancerStrategy {
    let strategy = this.strategies.get(service);
    if (!strategy) {
      const name = this.strategyByService[service] ?? this.defaultStrategy;
      strategy = createStrategy(name, this.random ? { random: this.random } : {});
      this.strategies.set(service, strategy);
    }
    return strategy;
  }

  /**
   * Sends to an admitted instance. The outcome reaches the breaker, and in-flight goes down, when
   * the response body has ended, errored or been destroyed: a body that breaks midway is a failure.
   */
  private async attempt(state: InstanceState, req: Outgoing): Promise<Answer> {
    state.inFlight += 1;
    const sentAt = this.clock.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await state.connections().request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      state.inFlight -= 1;
      if (req.signal?.aborted) state.breaker.release();
      else this.recordFailure(state, err);
      throw err;
    }
    state.latency.observe(this.clock.now() - sentAt);
    const status = response.statusCode;
    const settled = new Promise<void>((resolve) => {
      finished(response.body, (err) => {
        state.inFlight -= 1;
        const code = errorCode(err);
        // Destroyed by the consumer (UND_ERR_ABORTED, premature close): the status decides.
        const brokeMidway =
          err && code !== 'UND_ERR_ABORTED' && code !== 'ERR_STREAM_PREMATURE_CLOSE';
        if (brokeMidway || status >= 500) this.recordFailure(state, err ?? status);
        else state.breaker.success();
        resolve();
      });
    });
    return { response, state, settled };
  }

  private recordFailure(state: InstanceState, reason: unknown): void {
    const before = state.breaker.state;
    state.breaker.failure();
    if (state.breaker.state === 'open' && before !== 'open') {
      const why = typeof reason === 'number' ? `status ${reason}` : errorCode(reason);
      this.logger?.warn(
        { service: state.instance.service, instance: state.instance.id, reason: why ?? String(reason) },
        'circuit breaker opened',
      );
    }
  }

  private toMeshError(err: unknown, service: string, instance: ServiceInstance): MeshError {
    if (err instanceof MeshError) return err;
    const code = errorCode(err);
    const where = `${service} instance ${instance.id} (${instance.host}:${instance.port})`;
    if (code !== undefined && TIMEOUT_CODES.has(code)) {
      return new MeshError('UPSTREAM_TIMEOUT', `${where} timed out (${code})`, { cause: err });
    }
    const why = code ?? (err instanceof Error ? err.message : String(err));
    return new MeshError('UPSTREAM_FAILED', `${where} failed: ${why}`, { cause: err });
  }

  /** Closes and forgets what belonged to instances that left the source. */
  private forgetDeparted(service: string): void {
    const present = new Set(this.source.instances(service).map((i) => i.id));
    for (const [id, state] of this.states) {
      if (state.instance.service === service && !present.has(id)) {
        this.states.delete(id);
        void state.closePool();
      }
    }
  }
}

/** Objects and arrays go as JSON; strings and bytes as they are. */
function encodeBody(body: unknown, headers: IncomingHttpHeaders): Buffer | string | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  headers['content-type'] ??= 'application/json';
  return JSON.stringify(body);
}

function decodeBody(text: string, headers: IncomingHttpHeaders, service: string): unknown {
  if (text.length === 0) return undefined;
  const type = String(headers['content-type'] ?? '');
  if (!/[/+]json\b/i.test(type)) return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MeshError('UPSTREAM_FAILED', `${service} sent invalid JSON`, { cause: err });
  }
}
