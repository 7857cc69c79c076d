import {
  type ClientPolicyOptions,
  type Discovery,
  type MeshConfig,
  type Registry,
  ServiceClient,
  type ServiceOptions,
  type ServiceHandle,
} from '@meshkit/toolkit';
import { createGatewayApp, type GatewayHandle, parseFaultRules } from '@meshkit/gateway';
import { createOrdersApp } from '@meshkit/orders';
import { createProductsApp } from '@meshkit/products';
import { createUsersApp } from '@meshkit/users';
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
    drainDelayMs: config.drainDelayMs,
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
    outlier: {
      consecutive5xx: config.outlierConsecutive5xx,
      baseEjectionMs: config.outlierBaseEjectionMs,
      maxEjectionPercent: config.outlierMaxEjectionPercent,
    },
    retry: { maxAttempts: config.retryMaxAttempts, budget: { ratio: config.retryBudgetPercent / 100 } },
  };
}

/** A client over discovery with the configured policies. */
export function createClient(ctx: PartContext): ServiceClient {
  return new ServiceClient({
    ...clientPolicies(ctx.config),
    source: ctx.discovery,
    logger: ctx.logger.child({ part: 'client' }),
  });
}

/** Builds and starts one part on `port`. */
export async function startPart(ctx: PartContext, name: PartName, port: number): Promise<RunningPart> {
  const { config } = ctx;
  let handle: ServiceHandle | GatewayHandle;
  let closeClient: (() => Promise<void>) | undefined;
  switch (name) {
    case 'users':
      handle = await createUsersApp({ ...storeOptions(config), service: serviceOptions(ctx, name, port) });
      break;
    case 'products':
      handle = await createProductsApp({ ...storeOptions(config), service: serviceOptions(ctx, name, port) });
      break;
    case 'orders': {
      const client = createClient(ctx);
      closeClient = () => client.close();
      handle = await createOrdersApp({
        ...storeOptions(config),
        caller: client,
        service: serviceOptions(ctx, name, port),
      });
      break;
    }
    case 'gateway':
      handle = await createGatewayApp({
        ...clientPolicies(config),
        source: ctx.discovery,
        port,
        host: config.host,
        faults: parseFaultRules(config.gatewayFaults),
        corsOrigins: config.corsOrigins,
        bodyLimit: config.bodyLimit,
        logger: ctx.logger.child({ part: name }),
      });
      break;
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
