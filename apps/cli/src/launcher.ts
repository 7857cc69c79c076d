import { createLogger, createRegistry, Discovery, loadConfig, type MeshConfig } from '@meshkit/toolkit';
import { type PartContext, type PartName, type RunningPart, startPart } from './parts.js';

export interface System {
  parts: RunningPart[];
  /**
   * Stops the gateway first (no new traffic; its in-flight requests finish, and with them the
   * service calls they made), then every service at once (each drains on its own, so their drain
   * delays overlap instead of adding up), then discovery and the registry.
   */
  stop(): Promise<void>;
}

/**
 * Starts the named parts in this process, sharing one registry client and one discovery view.
 * `ports` gives each part's port.
 */
export async function startSystem(
  names: PartName[],
  ports: Record<PartName, number>,
  config: MeshConfig = loadConfig(),
): Promise<System> {
  const logger = createLogger({ level: config.logLevel, name: 'meshkit' });
  const registry = createRegistry(config.redisUrl, { logger, prefix: config.registryPrefix });
  const discovery = new Discovery(registry, { logger });
  await discovery.start();
  const ctx: PartContext = { config, registry, discovery, logger };

  const parts: RunningPart[] = [];
  const stopPart = (part: RunningPart) =>
    part.stop().catch((err: unknown) => logger.error({ err, part: part.name }, 'stop failed'));
  const stop = async () => {
    await Promise.all(parts.filter((p) => p.name === 'gateway').map(stopPart));
    await Promise.all(parts.filter((p) => p.name !== 'gateway').map(stopPart));
    discovery.stop();
    await registry.close();
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
