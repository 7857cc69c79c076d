import {
  type ClientPolicyOptions,
  type Discovery,
  type MeshConfig,
  parseFaultRules,
  type Registry,
  registerClientMetrics,
  ServiceClient,
  type ServiceOptions,
  type ServiceHandle,
  type UpstreamAttempt,
  UpstreamMetrics,
} from '@meshkit/toolkit/core';
import type { GatewayHandle } from '@meshkit/gateway';
import type { Logger } from 'pino';

export const partNames = ['gateway', 'users', 'orders', 'products'] as const;
export type PartName = (typeof partNames)[number];

/** Each part's port from the configuration (the seed's 8000–8003 by default). */
export function configuredPorts(config: MeshConfig): Record<PartName, number> {
  return {
    gateway: config.gatewayPort,
    users: config.usersPort,
    orders: config.ordersPort,
    products: config.productsPort,
  };
}

export interface PartContext {
  config: MeshConfig;
  registry: Registry;
  discovery: Discovery;
  logger: Logger;
}

/** Something the launcher started and must stop. */
export interface RunningPart {
  name: PartName;
  url: string;
  stop(): Promise<void>;
}

/**
 * How long a stopping instance keeps serving after it deregistered: `DRAIN_DELAY_MS`, else what the
 * registry needs. In memory every discovery view sees the change at once (one process): 0. In
 * Redis the change feed is immediate too, but a lost message is only caught by the next resync
 * (every 1 s): 1500 ms covers that and the in-flight publish.
 */
export function drainDelayFor(config: MeshConfig): number {
  return config.drainDelayMs ?? (config.redisUrl ? REDIS_DRAIN_DELAY_MS : 0);
}

export const REDIS_DRAIN_DELAY_MS = 1500;

function serviceOptions(ctx: PartContext, name: PartName, port: number): ServiceOptions {
  const { config } = ctx;
  return {
    port,
    host: config.host,
    ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
    registry: ctx.registry,
    ttlMs: config.registryTtlMs,
    heartbeatMs: config.heartbeatMs,
    corsOrigins: config.corsOrigins,
    bodyLimit: config.bodyLimit,
    drainDelayMs: drainDelayFor(config),
    faults: parseFaultRules(config.serviceFaults, 'SERVICE_FAULTS'),
    logger: ctx.logger.child({ part: name }),
  };
}

/** Where each service keeps its store: PostgreSQL schemas with DATABASE_URL, else SQLite files in DATA_DIR. */
function storeOptions(config: MeshConfig): { dataDir: string; databaseUrl?: string; schemaPrefix?: string } {
  return {
    dataDir: config.dataDir,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    ...(config.databaseSchemaPrefix ? { schemaPrefix: config.databaseSchemaPrefix } : {}),
  };
}

/** The client policies the configuration decides, for the orders service's client and the gateway's. */
export function clientPolicies(config: MeshConfig): ClientPolicyOptions {
  return {
    strategy: config.balancer,
    strategies: config.balancers,
    breaker: { threshold: config.breakerThreshold, openMs: config.breakerOpenMs },
    connectTimeoutMs: config.connectTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    requestTimeouts: config.requestTimeouts,
    outlier: {
      consecutive5xx: config.outlierConsecutive5xx,
      baseEjectionMs: config.outlierBaseEjectionMs,
      maxEjectionPercent: config.outlierMaxEjectionPercent,
    },
    retry: { maxAttempts: config.retryMaxAttempts, budget: { ratio: config.retryBudgetPercent / 100 } },
  };
}

/** A client over discovery with the configured policies; `onAttempt` feeds its metrics. */
export function createClient(ctx: PartContext, onAttempt?: (a: UpstreamAttempt) => void): ServiceClient {
  return new ServiceClient({
    ...clientPolicies(ctx.config),
    onAttempt,
    source: ctx.discovery,
    logger: ctx.logger.child({ part: 'client' }),
  });
}

/**
 * Builds and starts one part on `port`. Each part's package is loaded here, when it starts: a
 * process runs only its own part's code (the gateway does not load the services' stores).
 */
export async function startPart(ctx: PartContext, name: PartName, port: number): Promise<RunningPart> {
  const { config } = ctx;
  let handle: ServiceHandle | GatewayHandle;
  let closeClient: (() => Promise<void>) | undefined;
  switch (name) {
    case 'users': {
      const { createUsersApp } = await import('@meshkit/users');
      handle = await createUsersApp({ ...storeOptions(config), service: serviceOptions(ctx, name, port) });
      break;
    }
    case 'products': {
      const { createProductsApp } = await import('@meshkit/products');
      handle = await createProductsApp({ ...storeOptions(config), service: serviceOptions(ctx, name, port) });
      break;
    }
    case 'orders': {
      const { createOrdersApp } = await import('@meshkit/orders');
      const upstream = new UpstreamMetrics();
      const client = createClient(ctx, upstream.onAttempt);
      closeClient = () => client.close();
      handle = await createOrdersApp({
        ...storeOptions(config),
        caller: client,
        service: serviceOptions(ctx, name, port),
      });
      registerClientMetrics(handle.app.metrics, client, upstream);
      break;
    }
    case 'gateway': {
      const { createGatewayApp } = await import('@meshkit/gateway');
      handle = await createGatewayApp({
        ...clientPolicies(config),
        source: ctx.discovery,
        port,
        host: config.host,
        faults: parseFaultRules(config.gatewayFaults, 'GATEWAY_FAULTS'),
        corsOrigins: config.corsOrigins,
        bodyLimit: config.bodyLimit,
        logger: ctx.logger.child({ part: name }),
      });
      break;
    }
  }
  await handle.start();
  return {
    name,
    url: handle.url,
    async stop() {
      await handle.stop();
      await closeClient?.();
    },
  };
}
