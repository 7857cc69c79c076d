import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Clock } from '../clock.js';
import type { ServiceInstance } from '../registry/instance.js';
import type { Registry } from '../registry/registry.js';
import type { FaultRule } from './fault-injection.js';
import type { IdempotencyOptions } from './idempotency.js';

/** The Fastify app a service's routes are written against: typebox schemas drive validation. */
export type ServiceApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What a business service supplies: its identity and its routes. No wiring, no I/O set-up. */
export interface ServiceDefinition {
  /** Registry name, e.g. `user-service`. */
  name: string;
  version?: string;
  /** Adds the service's routes. Throw MeshError (or a domain error mapped to one) for 4xx. */
  routes(app: ServiceApp): void | Promise<void>;
  /** Extra readiness check for `/health/ready` (e.g. a database ping); throw when not ready. */
  ready?(): Promise<void>;
  /** Called last on stop, after in-flight requests finished (close the store here). */
  close?(): Promise<void>;
  /** Honour `Idempotency-Key` on every POST route, keeping the keys in this store. Default off. */
  idempotency?: IdempotencyOptions;
}

export interface ServiceOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Address other processes reach this instance at (registered). Default: `host`, or 127.0.0.1 for 0.0.0.0. */
  advertiseHost?: string;
  /** Where to register; none: the service runs unregistered. */
  registry?: Registry;
  /** Lease TTL and heartbeat interval, ms. Defaults 6000 and 2000. */
  ttlMs?: number;
  heartbeatMs?: number;
  weight?: number;
  tags?: string[];
  meta?: Record<string, string>;
  /** Origins allowed cross-origin access. Default none. `*` is allowed only without credentials. */
  corsOrigins?: string[];
  corsCredentials?: boolean;
  /** Max body size in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /**
   * After turning draining and deregistering on stop, keep serving this long so every gateway and
   * client has seen it go before the listener closes. Default 0 (right when discovery sees the
   * change at once: one process, the in-memory registry).
   */
  drainDelayMs?: number;
  /**
   * Injected delays and aborts on the service's own routes (chaos experiments), e.g. from
   * `parseFaultRules(process.env.SERVICE_FAULTS, 'SERVICE_FAULTS')`: a path rule matches the
   * request path, a service-name rule every route of the service of that name; `/health*` and
   * `/info` are never faulted. Default none.
   */
  faults?: FaultRule[];
  /** Dice of the fault percentages, returning [0, 1). Default Math.random. */
  faultRandom?: () => number;
  /** A pino logger, or false for silence. Default: pino at LOG_LEVEL. */
  logger?: FastifyBaseLogger | false;
  clock?: Clock;
}

/** A built service: `app.inject()` works before `start()`. */
export interface ServiceHandle {
  readonly app: ServiceApp;
  readonly name: string;
  /** The registered instance; port and status are final after `start()`. */
  readonly instance: ServiceInstance;
  /** `http://host:port` once started. */
  readonly url: string;
  /** Listen, then register (status healthy) and heartbeat. */
  start(): Promise<void>;
  /** Graceful: draining → deregister → wait drainDelayMs → finish in-flight → close. Idempotent. */
  stop(): Promise<void>;
}
