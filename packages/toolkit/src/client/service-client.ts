import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Context } from '@opentelemetry/api';
import { createStrategy } from '../balancing/create-strategy.js';
import { LatencyAverage } from '../balancing/latency-average.js';
import { PeakEwma } from '../balancing/peak-ewma.js';
import type { RandomSource } from '../balancing/random.js';
import type { BalancerStrategy, Candidate, StrategyName } from '../balancing/strategy.js';
import { type Clock, systemClock } from '../clock.js';
import type { InstanceSource } from '../discovery/instance-source.js';
import { MeshError, UPSTREAM_ERROR_HEADER } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { REQUEST_TIMEOUT_HEADER, remainingMs, requestTimeoutHeaderValue } from '../resilience/deadline.js';
import { headersOf, hasRawHeader, type RawHeaders } from '../wire/raw-headers.js';
import { http1ErrorCodes } from './http1/errors.js';
import type { Exchange } from './http1/exchange.js';
import { UpstreamPool, type UpstreamPoolOptions } from './http1/pool.js';
import { OutlierDetector, type OutlierDetectorOptions } from '../resilience/outlier-detector.js';
import { RetryBudget, type RetryBudgetOptions } from '../resilience/retry-budget.js';
import { endClientSpan, startClientSpan } from '../telemetry/client-spans.js';
import type { ServiceRequest, ServiceResponse } from './service-caller.js';
import type {
  ForwardHandle,
  RawServiceRequest,
  ServiceDispatcher,
  UpstreamSink,
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
  /**
   * Per-service per-attempt timeouts, by service name, over `requestTimeoutMs`: a service that
   * calls others before it answers needs longer than the services it calls (Envoy's per-route
   * timeout, Kong's per-service one).
   */
  requestTimeouts?: Record<string, number>;
  /** Keep-alive connections per instance. Default 64. */
  connections?: number;
  /**
   * Passive outlier ejection per service (Envoy's semantics). Defaults: 5 consecutive failures or
   * one refused connection eject for 30 s × times ejected (max 300 s), at most 50 % of a service's
   * instances at once (always 1); below 50 % available instances, ejections are ignored (panic).
   */
  outlier?: Omit<OutlierDetectorOptions, 'clock'>;
  /** Retries of safe requests on other instances. */
  retry?: RetryOptions;
  clock?: Clock;
  /** For the `random` and `p2c_ewma` strategies. */
  random?: RandomSource;
  logger?: ServiceClientLogger;
  /** Told of every attempt once its outcome is known (metrics); must be cheap and must not throw. */
  onAttempt?: (attempt: UpstreamAttempt) => void;
}

/** One attempt on one instance, as `onAttempt` hears of it. */
export interface UpstreamAttempt {
  service: string;
  instance: ServiceInstance;
  /** The response status; undefined when none came (connection error, timeout, caller gave up). */
  status: number | undefined;
  /** From sending to the end of the response body, or to the failure; ms on the client's clock. */
  durationMs: number;
  /** Why the attempt failed without a status, or broke off mid-body: an error code, or `error`. */
  error?: string;
}

/** The policy part of a client's options: what configuration decides, apart from wiring. */
export type ClientPolicyOptions = Pick<
  ServiceClientOptions,
  | 'strategy'
  | 'strategies'
  | 'breaker'
  | 'connectTimeoutMs'
  | 'requestTimeoutMs'
  | 'requestTimeouts'
  | 'outlier'
  | 'retry'
>;

export interface RetryOptions {
  /** Attempts at most, the first included; a request may lower or raise it. Default 3; 1 = no retries. */
  maxAttempts?: number;
  /** Statuses retried (for idempotent requests). Default 502, 503, 504: a 500 may have done work. */
  retryOn?: readonly number[];
  /** Retry budget per service. Defaults: 20 % of the requests of the last 10 s + 3 per second. */
  budget?: Omit<RetryBudgetOptions, 'clock'>;
}

/** Counters of one service, since the client started. */
export interface ServiceClientStats {
  service: string;
  /** Requests sent (first attempts). */
  requests: number;
  /** Further attempts on other instances. */
  retries: number;
  /** Retries wanted but refused because the service's retry budget was spent. */
  retryBudgetExhausted: number;
  /** Outlier ejections. */
  ejections: number;
  /** Picks that ignored ejections because too few instances were available (panic routing). */
  panicRoutes: number;
}

/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2), TRACE aside. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** setTimeout's largest delay; a time further away than this gets no timer of ours. */
const MAX_TIMER_MS = 2_147_483_647;

/** Aborted because the caller gave up (or a retried answer's body was too long to read away). */
const GAVE_UP_CODE = 'MESHKIT_CALLER_GAVE_UP';

/** How much of a retried answer's body is read away to keep its connection; past it, the connection goes. */
const DISCARD_LIMIT_BYTES = 64 * 1024;

/** What an attempt tells the retry loop. `headers` decides: pass the body on, pause, or read it away. */
interface AttemptListener {
  headers(status: number, headers: RawHeaders): 'go' | 'pause' | 'discard';
  data(chunk: Buffer): boolean;
  end(): void;
  error(err: Error, headersCame: boolean): void;
}

/** The pick context of a request without a hash key (shared: strategies only read it). */
const NO_KEY = Object.freeze({});
/** A first attempt's exclusions: none. */
const NOT_TRIED: readonly string[] = Object.freeze([]);

/** The share of its per-attempt timeout an attempt the deadline cut short needs for a verdict. */
const FAIR_CHANCE_SHARE = 0.5;

/** The codes of the errors an attempt is aborted with: its deadline passed; no headers in time. */
const DEADLINE_CODE = 'MESHKIT_DEADLINE_EXCEEDED';
const ATTEMPT_TIMEOUT_CODE = 'MESHKIT_ATTEMPT_TIMEOUT';

/** Errors that mean no byte of the request reached the instance: safe to send elsewhere. */
const NOT_SENT_CODES = new Set<string>([
  'ECONNREFUSED',
  http1ErrorCodes.CONNECT_TIMEOUT,
  http1ErrorCodes.POOL_CLOSED,
  http1ErrorCodes.UNREACHABLE,
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set<string>([
  http1ErrorCodes.CONNECT_TIMEOUT,
  http1ErrorCodes.ANSWER_TIMEOUT,
  ATTEMPT_TIMEOUT_CODE,
  DEADLINE_CODE,
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
  private pool: UpstreamPool | undefined;

  constructor(
    public instance: ServiceInstance,
    readonly breaker: CircuitBreaker,
    readonly latency: PeakEwma,
    readonly average: LatencyAverage,
    private readonly poolOptions: UpstreamPoolOptions,
  ) {}

  cost(): number {
    return this.latency.get() * (this.inFlight + 1);
  }

  rtt(): number | undefined {
    return this.average.get();
  }

  /** The pool, created on first use. */
  connections(): UpstreamPool {
    this.pool ??= new UpstreamPool(this.instance.host, this.instance.port, this.poolOptions);
    return this.pool;
  }

  /** Takes the latest registration; a new address means a new pool. */
  update(instance: ServiceInstance): void {
    const moved = instance.host !== this.instance.host || instance.port !== this.instance.port;
    this.instance = instance;
    if (moved) void this.closePool();
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
  headers: Record<string, string | string[] | undefined>;
  /** `RawServiceRequest.headersChecked`; the attempt's own headers are valid by construction. */
  headersChecked?: boolean;
  body: Buffer | string | Readable | null | undefined;
  /** Per-attempt timeout, ms. */
  timeoutMs: number;
  /** Bounds every attempt together (clock ms). */
  deadline: number | undefined;
  maxAttempts: number | undefined;
  key: string | undefined;
  /** Parent of each attempt's CLIENT span; the active context when absent. */
  traceContext: Context | undefined;
}

/** What to do after an attempt that may be retried. */
type NextStep = { kind: 'retry'; state: InstanceState } | { kind: 'stop' } | { kind: 'timeout'; error: MeshError };

/** What the client keeps per service: its outlier detector, retry budget and counters. */
class ServiceGroup {
  readonly counters: Omit<ServiceClientStats, 'service'> = {
    requests: 0,
    retries: 0,
    retryBudgetExhausted: 0,
    ejections: 0,
    panicRoutes: 0,
  };
  /** Whether the last pick was panic routing (to log the change once, not per request). */
  panicking = false;

  constructor(
    readonly detector: OutlierDetector,
    readonly budget: RetryBudget,
  ) {}
}

/**
 * Calls services by name: discovery view → healthy instances, minus open breakers and outlier
 * ejections (unless too few remain: panic routing) → strategy → breaker permit → pooled keep-alive
 * HTTP/1.1 (`http1/`), measuring in-flight requests and latency. A failed attempt is retried on another
 * instance when that is safe (idempotent method, `Idempotency-Key`, or nothing was sent), the
 * outcome is retryable (connection error, timeout, 502/503/504), attempts, the deadline and the
 * service's retry budget allow.
 */
export class ServiceClient implements ServiceDispatcher {
  private readonly source: InstanceSource;
  private readonly clock: Clock;
  private readonly defaultStrategy: StrategyName;
  private readonly strategyByService: Record<string, StrategyName>;
  private readonly breakerOptions: { threshold?: number; openMs?: number };
  private readonly outlierOptions: Omit<OutlierDetectorOptions, 'clock'>;
  private readonly budgetOptions: Omit<RetryBudgetOptions, 'clock'>;
  private readonly maxAttempts: number;
  private readonly retryOn: ReadonlySet<number>;
  private readonly requestTimeoutMs: number;
  private readonly requestTimeouts: ReadonlyMap<string, number>;
  private readonly poolOptions: UpstreamPoolOptions;
  private readonly random: RandomSource | undefined;
  private readonly logger: ServiceClientLogger | undefined;
  private readonly onAttempt: ((attempt: UpstreamAttempt) => void) | undefined;
  private readonly strategies = new Map<string, BalancerStrategy>();
  private readonly states = new Map<string, InstanceState>();
  private readonly groups = new Map<string, ServiceGroup>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(options: ServiceClientOptions) {
    this.source = options.source;
    this.clock = options.clock ?? systemClock;
    this.defaultStrategy = options.strategy ?? 'round_robin';
    this.strategyByService = { ...options.strategies };
    this.breakerOptions = { ...options.breaker };
    this.outlierOptions = { ...options.outlier };
    this.budgetOptions = { ...options.retry?.budget };
    this.maxAttempts = attemptsAllowed(options.retry?.maxAttempts ?? 3);
    this.retryOn = new Set(options.retry?.retryOn ?? [502, 503, 504]);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.requestTimeouts = new Map(Object.entries(options.requestTimeouts ?? {}));
    this.random = options.random;
    this.logger = options.logger;
    this.onAttempt = options.onAttempt;
    this.poolOptions = {
      connections: options.connections ?? 64,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      // No clock passed: the transport runs on wall time, whatever clock the policies are tested on.
    };
    // Fail at construction on bad outlier or budget options, not on the first request.
    new OutlierDetector(this.outlierOptions);
    new RetryBudget(this.budgetOptions);
    this.unsubscribe = this.source.onChange((service) => this.forgetDeparted(service));
  }

  /** The per-attempt timeout of `service`'s requests that do not set their own. */
  requestTimeoutFor(service: string): number {
    return this.requestTimeouts.get(service) ?? this.requestTimeoutMs;
  }

  call<T = unknown>(service: string, request: ServiceRequest): Promise<ServiceResponse<T>> {
    const headers: IncomingHttpHeaders = { accept: 'application/json' };
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      headers[name.toLowerCase()] = value;
    }
    if (request.requestId !== undefined) headers['x-request-id'] ??= request.requestId;
    if (request.traceparent !== undefined) headers.traceparent ??= request.traceparent;
    const body = encodeBody(request.body, headers);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let head: { status: number; headers: IncomingHttpHeaders; instance: ServiceInstance } | undefined;
      this.exchange(
        service,
        {
          method: request.method,
          path: request.path,
          headers,
          body,
          timeoutMs: request.timeoutMs ?? this.requestTimeoutFor(service),
          deadline: request.deadline,
          maxAttempts: request.maxAttempts,
          key: request.key,
          traceContext: request.traceContext,
        },
        {
          headers: (status, answered, instance) => {
            head = { status, headers: headersOf(answered), instance };
            return true;
          },
          data: (chunk) => chunks.push(chunk) > 0,
          // Called once the breaker saw the outcome: the caller's next call sees it too.
          end: () => {
            if (!head) return;
            try {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({
                status: head.status,
                headers: head.headers,
                body: decodeBody(text, head.headers, service) as T,
                instanceId: head.instance.id,
              });
            } catch (err) {
              reject(err);
            }
          },
          error: reject,
        },
      );
    });
  }

  dispatch(service: string, request: RawServiceRequest): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      let body: Readable | undefined;
      let ended = false;
      const signal = request.signal;
      const onAbort = () => handle.abort();
      const handle = this.forward(service, request, {
        headers: (statusCode, headers, instance) => {
          body = new Readable({
            read: () => handle.resume(),
            destroy: (err, done) => {
              // Destroyed by its consumer before the end: stop reading the upstream.
              if (!ended) handle.abort();
              done(err);
            },
          });
          resolve({ statusCode, headers: headersOf(headers), body, instance });
          return true;
        },
        data: (chunk) => body?.push(chunk) ?? false,
        end: () => {
          ended = true;
          signal?.removeEventListener('abort', onAbort);
          body?.push(null);
        },
        error: (err) => {
          ended = true;
          signal?.removeEventListener('abort', onAbort);
          if (body) body.destroy(err);
          else reject(err);
        },
      });
      if (signal?.aborted) handle.abort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * The gateway's path: `request` to an instance of `service`, the answer streamed into `sink`
   * as it comes (no stream objects), retried elsewhere when safe before anything reached the
   * sink. The sink may be called before this returns (a 503 when no instance can take it).
   */
  forward(service: string, request: RawServiceRequest, sink: UpstreamSink): ForwardHandle {
    return this.exchange(
      service,
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        headersChecked: request.headersChecked,
        body: request.body,
        timeoutMs: request.timeoutMs ?? this.requestTimeoutFor(service),
        deadline: request.deadline,
        maxAttempts: request.maxAttempts,
        key: request.key,
        traceContext: request.traceContext,
      },
      sink,
    );
  }

  snapshot(): ServiceSnapshot[] {
    return this.source.services().map((name) => {
      const detector = this.groups.get(name)?.detector;
      return {
        name,
        instances: this.source.instances(name).map((instance) => {
          const state = this.states.get(instance.id);
          const outlier = detector?.state(instance.id);
          return {
            instance,
            circuit: state?.breaker.state ?? 'closed',
            inFlight: state?.inFlight ?? 0,
            ejected: outlier?.ejected ?? false,
            ejections: outlier?.ejections ?? 0,
          };
        }),
      };
    });
  }

  /** Request, retry and ejection counters of every service this client has called. */
  stats(): ServiceClientStats[] {
    return [...this.groups]
      .map(([service, group]) => ({ service, ...group.counters }))
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    const states = [...this.states.values()];
    this.states.clear();
    await Promise.all(states.map((s) => s.closePool()));
  }

  /**
   * The first attempt, then retries on other instances while it is safe and allowed: a retried
   * answer's body is read away (its outcome recorded) before the next attempt starts.
   */
  private exchange(service: string, req: Outgoing, sink: UpstreamSink): ForwardHandle {
    let current: Exchange | undefined;
    let gaveUp = false;
    const handle: ForwardHandle = {
      abort: () => {
        gaveUp = true;
        current?.abort(callerGaveUp());
      },
      resume: () => current?.resume(),
    };
    if (this.closed) {
      sink.error(new MeshError('UPSTREAM_FAILED', 'the service client is closed'));
      return handle;
    }
    if (req.deadline !== undefined && remainingMs(req.deadline, this.clock.now()) < 1) {
      sink.error(new MeshError('UPSTREAM_TIMEOUT', `the deadline for ${service} passed before the request was sent`));
      return handle;
    }
    let first: InstanceState;
    try {
      first = this.choose(service, req.key);
    } catch (err) {
      sink.error(err as MeshError);
      return handle;
    }
    const group = this.groupFor(service);
    const maxAttempts = req.maxAttempts === undefined ? this.maxAttempts : attemptsAllowed(req.maxAttempts);
    // Instance ids attempted so far: an array, as there are rarely more than one or two.
    const tried: string[] = [];
    group.budget.deposit();
    group.counters.requests += 1;

    const run = (state: InstanceState, attempt: number): void => {
      tried.push(state.instance.id);
      let retryOn: InstanceState | undefined;
      current = this.attempt(state, req, attempt, () => gaveUp, {
        headers: (status, headers) => {
          const reason = this.retryReason(req, gaveUp, status, undefined);
          const next = reason === undefined ? undefined : this.nextStep(service, req, state, attempt, maxAttempts, tried, reason);
          if (next?.kind === 'retry') {
            retryOn = next.state;
            return 'discard';
          }
          return sink.headers(status, headers, state.instance) ? 'go' : 'pause';
        },
        data: (chunk) => sink.data(chunk),
        end: () => {
          if (retryOn) retry(retryOn, attempt + 1);
          else sink.end();
        },
        error: (err, headersCame) => {
          if (retryOn) return retry(retryOn, attempt + 1);
          if (headersCame) return sink.error(this.toMeshError(err, service, state.instance));
          const reason = this.retryReason(req, gaveUp, undefined, err);
          const next = reason === undefined ? undefined : this.nextStep(service, req, state, attempt, maxAttempts, tried, reason, err);
          if (next?.kind === 'retry') run(next.state, attempt + 1);
          else if (next?.kind === 'timeout') sink.error(next.error);
          else sink.error(this.toMeshError(err, service, state.instance));
        },
      });
    };
    // After a retried answer was read away: the caller may have given up meanwhile.
    const retry = (state: InstanceState, attempt: number): void => {
      if (!gaveUp) return run(state, attempt);
      this.recordNoVerdict(state);
      sink.error(new MeshError('UPSTREAM_FAILED', `the caller stopped waiting for ${service}`));
    };
    run(first, 1);
    return handle;
  }

  /** Whether another attempt may follow a retryable outcome, and where: attempts, deadline, budget, instances. */
  private nextStep(
    service: string,
    req: Outgoing,
    state: InstanceState,
    attempt: number,
    maxAttempts: number,
    tried: readonly string[],
    reason: string,
    failure?: unknown,
  ): NextStep {
    if (attempt >= maxAttempts || this.closed) return { kind: 'stop' };
    if (req.deadline !== undefined && remainingMs(req.deadline, this.clock.now()) < 1) {
      // An answer in hand is still given; a failure becomes the deadline's 504.
      if (failure === undefined) return { kind: 'stop' };
      const error = new MeshError(
        'UPSTREAM_TIMEOUT',
        `${service}: the deadline passed after ${attempt} attempt(s); last: ${reason}`,
        { cause: failure },
      );
      return { kind: 'timeout', error };
    }
    const group = this.groupFor(service);
    if (!group.budget.canRetry()) {
      group.counters.retryBudgetExhausted += 1;
      this.logger?.debug({ service, instance: state.instance.id, reason }, 'retry budget exhausted; not retrying');
      return { kind: 'stop' };
    }
    const next = this.pick(service, req.key, tried);
    if (!next) return { kind: 'stop' };
    group.budget.tryWithdraw();
    group.counters.retries += 1;
    this.logger?.debug(
      { service, instance: state.instance.id, retryOn: next.instance.id, attempt: attempt + 1, reason },
      'retrying on another instance',
    );
    return { kind: 'retry', state: next };
  }

  /**
   * Why the outcome of an attempt may be retried elsewhere, or undefined when it may not: the
   * caller gave up, the body cannot be sent again, it is not safe, or the outcome is final.
   */
  private retryReason(req: Outgoing, gaveUp: boolean, status: number | undefined, failure: unknown): string | undefined {
    if (gaveUp || req.body instanceof Readable) return undefined;
    if (status !== undefined) return this.retryOn.has(status) && isIdempotent(req) ? `status ${status}` : undefined;
    const code = errorCode(failure);
    if (code === DEADLINE_CODE) return undefined;
    if (code !== undefined && NOT_SENT_CODES.has(code)) return `${code} (not sent)`;
    return isIdempotent(req) ? (code ?? 'connection error') : undefined;
  }

  ensureAvailable(service: string): void {
    // What `pick` would admit: ejections do not matter here, panic routing ignores them when no
    // other instance is left.
    const healthy = this.healthyStates(service);
    if (!healthy.some((s) => s.breaker.available())) throw this.unavailable(service, healthy);
  }

  /** Picks and admits an instance, or explains with a 503 why none can take the request. */
  private choose(service: string, key: string | undefined): InstanceState {
    const chosen = this.pick(service, key, NOT_TRIED);
    if (chosen) return chosen;
    throw this.unavailable(service, this.healthyStates(service));
  }

  /** Why no instance of `service` can take a request: none healthy, or all refusing for a while. */
  private unavailable(service: string, healthy: InstanceState[]): MeshError {
    if (healthy.length === 0) {
      return new MeshError('NO_HEALTHY_INSTANCE', `no healthy instance of ${service}`, { retryAfter: 1 });
    }
    const detector = this.groupFor(service).detector;
    const waitMs = Math.min(
      ...healthy.map((s) => Math.max(s.breaker.retryAfterMs(), detector.ejectedForMs(s.instance.id))),
    );
    const why = healthy.some((s) => detector.isEjected(s.instance.id))
      ? 'is ejected or has an open circuit breaker'
      : 'has an open circuit breaker';
    return new MeshError('NO_HEALTHY_INSTANCE', `every instance of ${service} ${why}`, {
      retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }

  /**
   * Healthy instances minus open breakers and ejections (filtered before the strategy) → pick →
   * breaker permit. When fewer than the panic threshold remain, ejections are ignored (Envoy's
   * panic routing): a detector that ejected too much must not take a working service down.
   * Breakers still refuse in panic: they are the seed's fail-fast gate, with their own probes.
   */
  private pick(service: string, key: string | undefined, exclude: readonly string[]): InstanceState | undefined {
    const group = this.groupFor(service);
    // One pass over the view (this runs per request): healthy, admitting, and not ejected.
    let healthy = 0;
    const admitting: InstanceState[] = [];
    const available: InstanceState[] = [];
    for (const instance of this.source.instances(service)) {
      if (instance.status !== 'healthy') continue;
      healthy += 1;
      const state = this.stateOf(instance);
      if (!state.breaker.available()) continue;
      admitting.push(state);
      if (!group.detector.isEjected(instance.id)) available.push(state);
    }
    const panic = group.detector.panic(healthy, available.length) && admitting.length > available.length;
    this.notePanic(service, group, panic, healthy, available.length);
    let candidates = panic ? admitting : available;
    if (exclude.length > 0) candidates = candidates.filter((s) => !exclude.includes(s.instance.id));
    if (panic && candidates.length > 0) group.counters.panicRoutes += 1;
    const strategy = this.strategyFor(service);
    const context = key === undefined ? NO_KEY : { key };
    while (candidates.length > 0) {
      const chosen = strategy.pick(candidates, context) as InstanceState;
      if (chosen.breaker.acquire()) return chosen;
      candidates = candidates.filter((c) => c !== chosen);
    }
    return undefined;
  }

  private notePanic(service: string, group: ServiceGroup, panic: boolean, healthy: number, available: number) {
    if (panic === group.panicking) return;
    group.panicking = panic;
    if (panic) {
      this.logger?.warn(
        { service, healthy, available },
        'too few instances available: panic routing, outlier ejections ignored',
      );
    } else {
      this.logger?.debug({ service, healthy, available }, 'panic routing over');
    }
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
      new LatencyAverage({ clock: this.clock }),
      this.poolOptions,
    );
    this.states.set(instance.id, state);
    return state;
  }

  private groupFor(service: string): ServiceGroup {
    let group = this.groups.get(service);
    if (!group) {
      group = new ServiceGroup(
        new OutlierDetector({ ...this.outlierOptions, clock: this.clock }),
        new RetryBudget({ ...this.budgetOptions, clock: this.clock }),
      );
      this.groups.set(service, group);
    }
    return group;
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
   * Sends to an admitted instance, with `min(per-attempt timeout, what remains of the deadline)`
   * and that time in `x-request-timeout-ms`. The outcome reaches the breaker and the outlier
   * detector, and in-flight goes down, when the response body has ended or failed (before the
   * listener hears `end`/`error`): a body that breaks midway is a failure. An attempt the deadline
   * cut short gives no verdict on the instance (the caller ran out of time, the instance may be
   * fine) unless it had at least half its per-attempt timeout and no headers came; nor does one
   * its caller gave up on before the headers. Each attempt is a CLIENT span, and the
   * `traceparent` sent names it (when tracing is on).
   */
  private attempt(
    state: InstanceState,
    req: Outgoing,
    attempt: number,
    gaveUp: () => boolean,
    listener: AttemptListener,
  ): Exchange {
    const sentAt = this.clock.now();
    const remaining = req.deadline === undefined ? Number.POSITIVE_INFINITY : remainingMs(req.deadline, sentAt);
    const timeoutMs = Math.max(1, Math.min(req.timeoutMs, remaining));
    const cutShort = remaining < req.timeoutMs;
    // Even cut short, an attempt that had at least half its timeout and got no headers is a verdict:
    // a healthy instance answers well within that. (Else a hung instance behind a caller with the
    // same timeout, whose deadline always cuts, would never be ejected.)
    const fairChance = timeoutMs >= req.timeoutMs * FAIR_CHANCE_SHARE;
    const clientSpan = startClientSpan(req.traceContext, req.method, state.instance, attempt);
    const headers = attemptHeaderList(req.headers, requestTimeoutHeaderValue(timeoutMs), clientSpan.headers);

    let status: number | undefined;
    // The instance answered for a service further down that failed: it works, its dependency does not.
    let dependencyFailed = false;
    let discarding = false;
    let discarded = 0;
    let headersTimer: NodeJS.Timeout | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const stopTimers = () => {
      clearTimeout(headersTimer);
      clearTimeout(deadlineTimer);
    };
    // The caller gave up, or ran out of time before the instance had a fair chance: that says
    // nothing about the instance.
    const noVerdict = (err: unknown) => {
      const code = errorCode(err) ?? '';
      if (code === GAVE_UP_CODE || gaveUp()) return true;
      const outOfTime = code === DEADLINE_CODE || (cutShort && TIMEOUT_CODES.has(code));
      return outOfTime && (status !== undefined || !fairChance);
    };
    const settle = (err: Error | undefined) => {
      stopTimers();
      state.inFlight -= 1;
      const code = errorCode(err);
      let error: string | undefined;
      if (status === undefined) {
        error = code ?? 'error';
        if (noVerdict(err)) this.recordNoVerdict(state);
        else this.recordFailure(state, err);
      } else {
        // Stopped by the caller (it went away mid-body, or a retried body was dropped): the status decides.
        const byCaller = err !== undefined && code === GAVE_UP_CODE;
        if (err && !byCaller) error = code ?? 'error';
        if (err && !byCaller && noVerdict(err)) this.recordNoVerdict(state);
        else if ((err && !byCaller) || (status >= 500 && !dependencyFailed)) this.recordFailure(state, err ?? status);
        else this.recordSuccess(state);
      }
      this.report(state, status, sentAt, error);
      endClientSpan(clientSpan.span, status, error);
    };

    state.inFlight += 1;
    // Told nothing before this returns (a refused request fails a microtask later).
    const exchange = state.connections().exchange(
      { method: req.method, path: req.path, headers, headersChecked: req.headersChecked, body: req.body ?? null, timeoutMs },
      {
        headers: (answered, answerHeaders) => {
          clearTimeout(headersTimer);
          const now = this.clock.now();
          state.latency.observe(now - sentAt, now);
          state.average.observe(now - sentAt, now);
          status = answered;
          dependencyFailed = hasRawHeader(answerHeaders, UPSTREAM_ERROR_HEADER);
          const next = listener.headers(answered, answerHeaders);
          discarding = next === 'discard';
          return next !== 'pause';
        },
        data: (chunk) => {
          if (!discarding) return listener.data(chunk);
          // A retried answer is read away, up to a limit: past it, the connection is dropped instead.
          discarded += chunk.length;
          if (discarded > DISCARD_LIMIT_BYTES) exchange.abort(callerGaveUp());
          return true;
        },
        complete: () => {
          settle(undefined);
          listener.end();
        },
        error: (err) => {
          settle(err);
          listener.error(err, status !== undefined);
        },
      },
    );
    // Our own timers: the pool's stall check runs about once a second. The per-attempt timer runs
    // until the headers arrive (bodies stream on, bounded by the pool's stall check); the
    // deadline's until the body ends: waiting for a connection, connecting and the body included.
    if (!cutShort && timeoutMs <= MAX_TIMER_MS) {
      headersTimer = setTimeout(() => exchange.abort(attemptTimedOut(timeoutMs)), Math.ceil(timeoutMs));
    }
    if (req.deadline !== undefined && remaining <= MAX_TIMER_MS) {
      deadlineTimer = setTimeout(() => exchange.abort(deadlineExceeded()), Math.ceil(remaining));
    }
    return exchange;
  }

  /** Tells `onAttempt`; a throwing hook must not break the request. */
  private report(state: InstanceState, status: number | undefined, sentAt: number, error: string | undefined): void {
    if (!this.onAttempt) return;
    const attempt: UpstreamAttempt = {
      service: state.instance.service,
      instance: state.instance,
      status,
      durationMs: this.clock.now() - sentAt,
    };
    if (error !== undefined) attempt.error = error;
    try {
      this.onAttempt(attempt);
    } catch (err) {
      this.logger?.warn({ err }, 'onAttempt hook threw');
    }
  }

  private recordSuccess(state: InstanceState): void {
    state.breaker.success();
    this.groupFor(state.instance.service).detector.record(state.instance.id, 'success', []);
  }

  private recordNoVerdict(state: InstanceState): void {
    state.breaker.release();
  }

  /** A connection error, timeout or 5xx: to the breaker and the outlier detector. */
  private recordFailure(state: InstanceState, reason: unknown): void {
    const { service, id } = state.instance;
    const code = typeof reason === 'number' ? undefined : errorCode(reason);
    const why = typeof reason === 'number' ? `status ${reason}` : (code ?? String(reason));

    const before = state.breaker.state;
    state.breaker.failure();
    if (state.breaker.state === 'open' && before !== 'open') {
      this.logger?.warn({ service, instance: id, reason: why }, 'circuit breaker opened');
    }

    const group = this.groupFor(service);
    const refused = code !== undefined && NOT_SENT_CODES.has(code);
    const peers = this.source
      .instances(service)
      .filter((i) => i.status === 'healthy')
      .map((i) => i.id);
    if (group.detector.record(id, refused ? 'refused' : 'failure', peers)) {
      group.counters.ejections += 1;
      const { ejectedUntil, ejections } = group.detector.state(id);
      const ejectedForMs = (ejectedUntil ?? 0) - this.clock.now();
      this.logger?.warn({ service, instance: id, reason: why, ejectedForMs, ejections }, 'outlier ejected');
    }
  }

  private toMeshError(err: unknown, service: string, instance: ServiceInstance): MeshError {
    if (err instanceof MeshError) return err;
    const code = errorCode(err);
    const where = `${service} instance ${instance.id} (${instance.host}:${instance.port})`;
    if (code === DEADLINE_CODE) {
      return new MeshError('UPSTREAM_TIMEOUT', `${where}: the deadline passed`, { cause: err });
    }
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
        this.groups.get(service)?.detector.forget(id);
        void state.closePool();
      }
    }
  }
}

function attemptsAllowed(n: number): number {
  if (!(n >= 1)) throw new RangeError('maxAttempts must be at least 1');
  return Math.floor(n);
}

/** Safe to send twice: an idempotent method, or the caller's `Idempotency-Key` makes it so. */
function isIdempotent(req: Outgoing): boolean {
  if (IDEMPOTENT_METHODS.has(req.method.toUpperCase())) return true;
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.toLowerCase() === 'idempotency-key' && value !== undefined && value !== '') return true;
  }
  return false;
}

function attemptTimedOut(ms: number): Error {
  return Object.assign(new Error(`no response headers within ${Math.ceil(ms)} ms`), { code: ATTEMPT_TIMEOUT_CODE });
}

function deadlineExceeded(): Error {
  return Object.assign(new Error('the deadline passed'), { code: DEADLINE_CODE });
}

function callerGaveUp(): Error {
  return Object.assign(new Error('the caller stopped waiting for the answer'), { code: GAVE_UP_CODE });
}

/**
 * An attempt's request headers as the pool's flat `[name, value, …]` list (no object built per
 * attempt): the caller's, but those the attempt sets itself whatever case they came in —
 * `x-request-timeout-ms`, and the trace headers when tracing is on — then the attempt's own.
 */
function attemptHeaderList(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  timeoutValue: string,
  trace: Readonly<Record<string, string>>,
): string[] {
  const traced = trace.traceparent !== undefined;
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || setByAttempt(name, traced)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  out.push(REQUEST_TIMEOUT_HEADER, timeoutValue);
  if (traced) for (const name in trace) out.push(name, trace[name] as string);
  return out;
}

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/** Whether the attempt sets header `name` itself; lengths first, so most names are not case-folded. */
function setByAttempt(name: string, traced: boolean): boolean {
  if (name.length === REQUEST_TIMEOUT_HEADER.length) return name.toLowerCase() === REQUEST_TIMEOUT_HEADER;
  if (!traced || (name.length !== TRACEPARENT.length && name.length !== TRACESTATE.length)) return false;
  const lower = name.toLowerCase();
  return lower === TRACEPARENT || lower === TRACESTATE;
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
