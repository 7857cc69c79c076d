import {
  type ClientPolicyOptions,
  type Clock,
  type InstanceSource,
  registerRegistryMetrics,
  ServiceClient,
  type ServiceClientLogger,
  systemClock,
  UpstreamMetrics,
} from '@meshkit/toolkit/core';
import type { FastifyBaseLogger } from 'fastify';
import { AttemptStats } from './dashboard/attempt-stats.js';
import type { FaultRule } from './fault-injection.js';
import { createGateway, type GatewayHandle } from './gateway.js';
import type { Route } from './route-table.js';

/** The gateway's own options, plus the policies of its client (balancing, breakers, ejection, retries). */
export interface GatewayAppOptions extends ClientPolicyOptions {
  /** Where instances come from: discovery over the registry, or a fixed list. */
  source: InstanceSource;
  /** Default 8000 (the seed's); 0 picks a free one. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  routes?: Route[];
  corsOrigins?: string[];
  bodyLimit?: number;
  /** A pino logger, or false for silence. */
  logger?: FastifyBaseLogger | false;
  /** Injected delays and aborts by route, e.g. from `parseFaultRules(GATEWAY_FAULTS)`. Default none. */
  faults?: FaultRule[];
  /** Dice of the fault percentages, returning [0, 1). Default Math.random. */
  faultRandom?: () => number;
  clock?: Clock;
}

export const DEFAULT_GATEWAY_PORT = 8000;

/**
 * Wiring only: a ServiceClient over `source`, the gateway over the client, the client's and the
 * discovery view's metrics on the gateway's `/metrics`; stop closes both.
 */
export async function createGatewayApp(options: GatewayAppOptions): Promise<GatewayHandle> {
  // The client logs through the gateway's logger (the given one, or the default pino), which only
  // exists once the gateway is built.
  let appLog: ServiceClientLogger | undefined;
  const clientLog: ServiceClientLogger = {
    debug: (obj, msg) => appLog?.debug(obj, msg),
    warn: (obj, msg) => appLog?.warn(obj, msg),
  };
  const upstreamMetrics = new UpstreamMetrics();
  const attemptStats = new AttemptStats({ clock: options.clock ?? systemClock });
  const client = new ServiceClient({
    source: options.source,
    strategy: options.strategy,
    strategies: options.strategies,
    breaker: options.breaker,
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    requestTimeouts: options.requestTimeouts,
    outlier: options.outlier,
    retry: options.retry,
    clock: options.clock,
    logger: clientLog,
    onAttempt: (attempt) => {
      upstreamMetrics.onAttempt(attempt);
      attemptStats.onAttempt(attempt);
    },
  });
  let gateway: GatewayHandle;
  try {
    gateway = await createGateway({
      client,
      port: options.port ?? DEFAULT_GATEWAY_PORT,
      host: options.host,
      routes: options.routes,
      logger: options.logger,
      corsOrigins: options.corsOrigins,
      bodyLimit: options.bodyLimit,
      // No requestTimeoutMs: the client's, per service, decides each attempt's timeout.
      faults: options.faults,
      faultRandom: options.faultRandom,
      upstreamMetrics,
      attemptStats,
      onInstancesChange: (listener) => options.source.onChange(listener),
      clock: options.clock,
    });
  } catch (err) {
    await client.close();
    throw err;
  }
  appLog = gateway.app.log;
  registerRegistryMetrics(gateway.app.metrics, options.source);

  let stopping: Promise<void> | undefined;
  return {
    get app() {
      return gateway.app;
    },
    get url() {
      return gateway.url;
    },
    start: () => gateway.start(),
    stop() {
      // In-flight requests finish through the client before its pools close.
      stopping ??= gateway.stop().finally(() => client.close());
      return stopping;
    },
  };
}
