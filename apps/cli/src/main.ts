import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, type MeshConfig, onShutdownSignals } from '@meshkit/toolkit/core';
import { parseFaultRules } from '@meshkit/gateway';
import { runCluster } from './cluster/cluster.js';
import { checkClusterBackends, ClusterUsageError, parseReplicas, type Replicas } from './cluster/replicas.js';
import { describeWorkerEvent, followPrimary, GatewayWorkers, isGatewayWorker, reportUp } from './gateway-workers.js';
import { startSystem } from './launcher.js';
import { configuredPorts, type PartName, partNames } from './parts.js';
import { GATEWAY_SEMI_SPACE_MIB, youngGeneration } from './young-generation.js';

/** Configuration problems end the process with one clear line, never a stack. */
function configOrExit(): MeshConfig {
  try {
    const config = loadConfig();
    parseFaultRules(config.gatewayFaults); // checked before anything starts
    return config;
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
  let phase: Phase = 'starting';
  const worker = isGatewayWorker();
  if (worker) followPrimary(() => phase);
  else stopWithSupervisor(() => phase);
  const onlyGateway = names.length === 1 && names[0] === 'gateway';
  if (!onlyGateway) youngGeneration.release();
  const system = await startSystem(names, ports, config);
  // Capped once serving, not before: loading the gateway's modules would grow it past any cap.
  if (onlyGateway) youngGeneration.cap(GATEWAY_SEMI_SPACE_MIB);
  phase = 'running';
  onShutdownSignals(() => {
    phase = 'stopping';
    return system.stop();
  });
  // `meshkit cluster` reads this line to learn each child's URL; a gateway worker's primary prints it once for all.
  if (worker) for (const part of system.parts) reportUp(part.url);
  else for (const part of system.parts) console.log(`${part.name.padEnd(8)} ${part.url}`);
}

/** `GATEWAY_WORKERS` > 1: this process supervises that many gateway workers (node:cluster) on one port. */
async function runGatewayWorkers(count: number) {
  let phase: Phase = 'starting';
  stopWithSupervisor(() => phase);
  const notice = (line: string) => console.error(`meshkit: ${line}`);
  const workers = new GatewayWorkers({
    count,
    onEvent(event) {
      const line = describeWorkerEvent(event);
      if (line) notice(line);
    },
  });
  let url: string;
  try {
    url = await workers.start();
  } catch (err) {
    notice(err instanceof Error ? err.message : String(err));
    await workers.stop();
    process.exit(1);
  }
  phase = 'running';
  onShutdownSignals(async () => {
    phase = 'stopping';
    const killed = await workers.stop();
    if (killed.length > 0) {
      notice(`gateway worker ${killed.join(', ')} did not stop in time and was killed`);
      throw new Error('a gateway worker was killed'); // exit 1
    }
  });
  console.log(`${'gateway'.padEnd(8)} ${url}`);
}

type Phase = 'starting' | 'running' | 'stopping';

/**
 * Started by `meshkit cluster` (an IPC channel to it exists): when that channel disconnects, the
 * supervisor is gone — even killed with SIGKILL — so stop as on SIGTERM rather than live on as an
 * orphan; while still starting, just exit (a lease already taken runs out by itself). Once a
 * signal started the stop, do nothing: a second signal would cut it short.
 */
function stopWithSupervisor(phase: () => Phase): void {
  if (!process.send) return;
  process.channel?.unref(); // the channel alone must not keep this process alive
  // Its output went to the supervisor: with it gone, writes fail with EPIPE, which must not crash the stop.
  const ignoreBrokenPipe = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  };
  process.stdout.on('error', ignoreBrokenPipe);
  process.stderr.on('error', ignoreBrokenPipe);
  const gone = () => {
    if (phase() === 'starting') process.exit(1);
    else if (phase() === 'running') process.kill(process.pid, 'SIGTERM');
  };
  if (process.connected) process.once('disconnect', gone);
  else gone();
}

/** `--replicas` and the backends a cluster needs, checked before anything starts: exit 2 with one line. */
function clusterPlanOrExit(list: string | undefined): Replicas {
  try {
    const replicas = parseReplicas(list);
    checkClusterBackends(replicas, process.env);
    return replicas;
  } catch (err) {
    if (err instanceof ClusterUsageError) {
      console.error(`meshkit: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

const program = new Command('meshkit')
  .description('meshkit: a service registry, discovery, balancing, breakers and a gateway, with a reference shop')
  .showHelpAfterError();

program
  .command('start')
  .description('run the whole system in one process: gateway, users, orders, products')
  .action(async () => {
    const config = configOrExit();
    if (config.gatewayWorkers > 1) {
      console.error('meshkit: GATEWAY_WORKERS applies to `meshkit run gateway` (and `meshkit cluster`); start runs one gateway');
    }
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
    if (part === 'gateway' && config.gatewayWorkers > 1 && !isGatewayWorker()) {
      await runGatewayWorkers(config.gatewayWorkers);
      return;
    }
    const ports = configuredPorts(config);
    if (part !== 'gateway' && config.port !== undefined) ports[part] = config.port;
    await runParts([part], ports, config);
  });

program
  .command('cluster')
  .description('the gateway and every service instance each in its own process, supervised; needs REDIS_URL')
  .option(
    '--replicas <list>',
    'instances per service, e.g. users=2,products=3,orders=2 (others 1; 1-16 each; more than 1 needs DATABASE_URL)',
  )
  .action(async (options: { replicas?: string }) => {
    const replicas = clusterPlanOrExit(options.replicas);
    configOrExit(); // every child reads the same environment: judge it once, here
    await runCluster(replicas);
  });

program
  .command('demo')
  .description("the seed's test flow against a running gateway: a user, a product, an order")
  .option('--url <url>', 'gateway URL (default http://127.0.0.1:$GATEWAY_PORT)')
  .action(async (options: { url?: string }) => {
    const url = gatewayUrl(options.url, configOrExit());
    // demo and status load when they run: both use undici (~4 MiB of heap), which no part needs.
    const { runDemo } = await import('./demo.js');
    await runDemo(url);
  });

program
  .command('status')
  .description("the registry as the gateway sees it: instances, circuits, in-flight requests")
  .option('--url <url>', 'gateway URL (default http://127.0.0.1:$GATEWAY_PORT)')
  .option('--watch', 'refresh until Ctrl-C, with requests per second per instance')
  .option('--interval <ms>', 'refresh every <ms> milliseconds with --watch (100-60000)', parseInterval, 1000)
  .action(async (options: { url?: string; watch?: boolean; interval: number }) => {
    const url = gatewayUrl(options.url, configOrExit());
    const { fetchStatus, watchStatus } = await import('./status.js');
    if (!options.watch) {
      console.log(await fetchStatus(url));
      return;
    }
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await watchStatus(url, {
      intervalMs: options.interval,
      signal: stop.signal,
      write: (text) => process.stdout.write(text),
      inPlace: process.stdout.isTTY === true,
    });
  });

function parseInterval(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 100 || ms > 60_000) {
    throw new InvalidArgumentError('must be a whole number of milliseconds from 100 to 60000');
  }
  return ms;
}

program.parseAsync().catch((err: unknown) => {
  console.error(`meshkit: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
