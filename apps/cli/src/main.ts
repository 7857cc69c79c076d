import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, type MeshConfig, onShutdownSignals } from '@meshkit/toolkit';
import { runDemo } from './demo.js';
import { startSystem } from './launcher.js';
import { configuredPorts, type PartName, partNames } from './parts.js';
import { fetchStatus } from './status.js';

/** Configuration problems end the process with one clear line, never a stack. */
function configOrExit(): MeshConfig {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`meshkit: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

function gatewayUrl(explicit: string | undefined, config: MeshConfig): string {
  return explicit ?? `http://127.0.0.1:${config.gatewayPort}`;
}

async function runParts(names: PartName[], ports: Record<PartName, number>, config: MeshConfig) {
  const system = await startSystem(names, ports, config);
  onShutdownSignals(system.stop);
  for (const part of system.parts) console.log(`${part.name.padEnd(8)} ${part.url}`);
}

const program = new Command('meshkit')
  .description('meshkit: a service registry, discovery, balancing, breakers and a gateway, with a reference shop')
  .showHelpAfterError();

program
  .command('start')
  .description('run the whole system in one process: gateway, users, orders, products')
  .action(async () => {
    const config = configOrExit();
    await runParts([...partNames], configuredPorts(config), config);
  });

program
  .command('run')
  .description('run one part in its own process; parts find each other through REDIS_URL')
  .argument('<part>', `one of ${partNames.join(', ')}`, (value: string) => {
    if (!(partNames as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of ${partNames.join(', ')}`);
    }
    return value as PartName;
  })
  .action(async (part: PartName) => {
    const config = configOrExit();
    if (!config.redisUrl) {
      console.error('meshkit: run needs REDIS_URL: parts in separate processes find each other through Redis');
      process.exit(2);
    }
    const ports = configuredPorts(config);
    if (part !== 'gateway' && config.port !== undefined) ports[part] = config.port;
    await runParts([part], ports, config);
  });

program
  .command('demo')
  .description("the seed's test flow against a running gateway: a user, a product, an order")
  .option('--url <url>', 'gateway URL (default http://127.0.0.1:$GATEWAY_PORT)')
  .action(async (options: { url?: string }) => {
    await runDemo(gatewayUrl(options.url, configOrExit()));
  });

program
  .command('status')
  .description("the registry as the gateway sees it: instances, circuits, in-flight requests")
  .option('--url <url>', 'gateway URL (default http://127.0.0.1:$GATEWAY_PORT)')
  .action(async (options: { url?: string }) => {
    console.log(await fetchStatus(gatewayUrl(options.url, configOrExit())));
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`meshkit: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
