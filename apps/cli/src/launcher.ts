import {
  createLogger,
  createRegistry,
  Discovery,
  loadConfig,
  type MeshConfig,
  startTracing,
  type Tracing,
} from '@meshkit/toolkit/core';
import { warmUpNextTick } from './next-tick-warm-up.js';
import { type PartContext, type PartName, type RunningPart, startPart } from './parts.js';

/** The `service.name` of each part's spans. */
const partServiceNames: Record<PartName, string> = {
  gateway: 'api-gateway',
  users: 'user-service',
  orders: 'order-service',
  products: 'product-service',
};

export interface System {
  parts: RunningPart[];
  /**
   * Stops the gateway first (no new traffic; its in-flight requests finish, and with them the
   * service calls they made), then every service at once (each drains on its own, so their drain
   * delays overlap instead of adding up), then discovery and the registry; last, the spans still
   * buffered are sent.
   */
  stop(): Promise<void>;
}

/**
 * Starts the named parts in this process, sharing one registry client and one discovery view.
 * `ports` gives each part's port. With `OTEL_EXPORTER_OTLP_ENDPOINT`, tracing is started first,
 * once for the process: each part's spans carry its service name (`OTEL_SERVICE_NAME` overrides).
 */
export async function startSystem(
  names: PartName[],
  ports: Record<PartName, number>,
  config: MeshConfig = loadConfig(),
): Promise<System> {
  const logger = createLogger({ level: config.logLevel, name: 'meshkit' });
  const tracing = startProcessTracing(names, config, logger);
  const registry = createRegistry(config.redisUrl, { logger, prefix: config.registryPrefix });
  // A flushed or restarted Redis: instances re-register within a heartbeat; serve the last view meanwhile.
  const discovery = new Discovery(registry, { logger, vanishGraceMs: config.heartbeatMs + 1000 });
  try {
    await Promise.all([discovery.start(), warmUpNextTick()]);
  } catch (err) {
    await tracing?.shutdown();
    throw err;
  }
  const ctx: PartContext = { config, registry, discovery, logger };

  const parts: RunningPart[] = [];
  const stopPart = (part: RunningPart) =>
    part.stop().catch((err: unknown) => logger.error({ err, part: part.name }, 'stop failed'));
  const stop = async () => {
    await Promise.all(parts.filter((p) => p.name === 'gateway').map(stopPart));
    await Promise.all(parts.filter((p) => p.name !== 'gateway').map(stopPart));
    try {
      discovery.stop();
      await registry.close();
    } finally {
      await tracing?.shutdown();
    }
  };
  // Services first, the gateway last, so it opens onto a registry that already has them.
  const order: PartName[] = ['users', 'products', 'orders', 'gateway'];
  try {
    for (const name of order.filter((n) => names.includes(n))) {
      parts.push(await startPart(ctx, name, ports[name]));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { parts, stop };
}

function startProcessTracing(
  names: PartName[],
  config: MeshConfig,
  logger: { warn(obj: object, msg?: string): void },
): Tracing | undefined {
  if (config.otelEndpoint === undefined) return undefined;
  const only = names.length === 1 ? names[0] : undefined;
  return startTracing({
    serviceName: config.otelServiceName ?? (only === undefined ? 'meshkit' : partServiceNames[only]),
    endpoint: config.otelEndpoint,
    resourcePerService: config.otelServiceName === undefined,
    logger,
  });
}
