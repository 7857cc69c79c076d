import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findNginx, nginxConfig } from './nginx.js';
import { freePort } from './ports.js';
import { cpuSeconds, listenerPid, processTree } from './proc-cpu.js';
import type { ProcessSet, Started } from './processes.js';
import { waitForHttp } from './processes.js';
import { BENCH_PATH, BENCH_PRODUCT_ID } from './product.js';
import type { Pin } from './scenario.js';

/** What every contender is started with. */
export interface BenchEnv {
  processes: ProcessSet;
  pin: Pin;
  /** The core the servers are pinned to, when they are. */
  serverCore?: number;
  repoRoot: string;
  /** bench/dist: the compiled servers. */
  distDir: string;
  tmpDir: string;
  redisUrl: string;
  /** A key prefix of this run only, so discovery is real but sees no one else's instances. */
  registryPrefix: string;
  natsUrl: string;
  /** The gateway's balancer; undefined: its default (round_robin). */
  balancer?: string;
  /** Node flags for the meshkit gateway (`--cpu-prof …` when profiling). */
  gatewayNodeFlags?: string[];
  /** NODE_OPTIONS of the meshkit gateway (`--gateway-node-options`). */
  gatewayNodeOptions?: string;
}

/** A contender once running: where to send load, and whose CPU to read. */
export interface RunningContender {
  url: string;
  /** The proxy's processes (empty for direct). */
  proxy: Started[];
  /** The backend's processes behind it. */
  backend: Started[];
  /** Another process on the path, outside both (the NATS server for moleculer). */
  broker?: { label: string; pid: number };
}

export interface Contender {
  id: string;
  label: string;
  /** What answers behind it. */
  backendLabel: string;
  /** Shown under the table: how it was configured. */
  description: string;
  /** Informational rows are measured but carry no target. */
  informational?: boolean;
  /** Why it cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  start(env: BenchEnv, shared: SharedBackend): Promise<RunningContender>;
}

/** The meshkit backend every HTTP contender sits in front of (one process, started once). */
export interface SharedBackend {
  process: Started;
  host: string;
  port: number;
  url: string;
}

/** The env of a server process: only what it needs, so the caller's LOG_LEVEL or BALANCER never leaks in. */
export function baseEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

const node = process.execPath;

/** `core`: which pinning the backend gets ('server' beside the proxies; the profile puts it with the load). */
export async function startBackend(env: BenchEnv, core: 'server' | 'load' = 'server'): Promise<SharedBackend> {
  const process_ = await env.processes.start({
    name: 'meshkit backend',
    command: [...env.pin(core), node, join(env.distDir, 'servers/backend.js')],
    env: baseEnv({ REDIS_URL: env.redisUrl, REGISTRY_PREFIX: env.registryPrefix, PORT: '0' }),
    ready: 'stderr-ready',
  });
  const url = new URL(process_.url);
  await waitForHttp(`${process_.url}${BENCH_PATH}`, { name: 'meshkit backend' });
  return { process: process_, host: url.hostname, port: Number(url.port), url: process_.url };
}

const answersProduct = (body: string) => body.includes(BENCH_PRODUCT_ID);

function meshkitGateway(id: string, label: string, logLevel: string | undefined, informational: boolean): Contender {
  return {
    id,
    label,
    backendLabel: 'meshkit service',
    informational,
    description:
      `\`meshkit run gateway\` (apps/cli/bin/meshkit.js) as a user runs it: discovery from Redis ` +
      `(REDIS_URL, a REGISTRY_PREFIX of this run), the default balancer unless --balancer, per-instance ` +
      `breakers, outlier ejection, retry budget, request ids, Prometheus metrics, ` +
      (logLevel === undefined
        ? 'and its access log at the default level (info: one JSON line per request), written to /dev/null.'
        : `and LOG_LEVEL=${logLevel} (no access line per request; everything else as above).`),
    unavailable: () => undefined,
    async start(env, backend) {
      const port = await freePort();
      const gateway = await env.processes.start({
        name: label,
        command: [
          ...env.pin('server'),
          node,
          ...(env.gatewayNodeFlags ?? []),
          join(env.repoRoot, 'apps/cli/bin/meshkit.js'),
          'run',
          'gateway',
        ],
        env: baseEnv({
          REDIS_URL: env.redisUrl,
          REGISTRY_PREFIX: env.registryPrefix,
          GATEWAY_PORT: String(port),
          LOG_LEVEL: logLevel,
          BALANCER: env.balancer,
          NODE_OPTIONS: env.gatewayNodeOptions,
        }),
        ready: 'none',
      });
      const url = `http://127.0.0.1:${port}`;
      // Up once discovery has found the backend and a request goes all the way through.
      await waitForHttp(`${url}${BENCH_PATH}`, {
        name: label,
        check: answersProduct,
        alive: () => env.processes.alive(gateway),
      });
      return { url, proxy: [gateway], backend: [backend.process] };
    },
  };
}

function nodeProxy(id: string, label: string, script: string, description: string): Contender {
  return {
    id,
    label,
    backendLabel: 'meshkit service',
    description,
    unavailable: () => undefined,
    async start(env, backend) {
      const proxy = await env.processes.start({
        name: label,
        command: [...env.pin('server'), node, join(env.distDir, 'servers', script)],
        env: baseEnv({ UPSTREAM: backend.url, PORT: '0' }),
        ready: 'stderr-ready',
      });
      await waitForHttp(`${proxy.url}${BENCH_PATH}`, { name: label, check: answersProduct });
      return { url: proxy.url, proxy: [proxy], backend: [backend.process] };
    },
  };
}

export const contenders: Contender[] = [
  {
    id: 'direct',
    label: 'direct (no proxy)',
    backendLabel: 'meshkit service',
    description: 'The load generator talks to the meshkit backend itself: the baseline of every ratio.',
    unavailable: () => undefined,
    async start(_env, backend) {
      return { url: backend.url, proxy: [], backend: [backend.process] };
    },
  },
  {
    id: 'nginx',
    label: 'nginx',
    backendLabel: 'meshkit service',
    description:
      'Debian\'s nginx, one worker, `upstream` with `keepalive 64`, `proxy_http_version 1.1`, ' +
      '`Connection ""`, access_log off; config generated in a temp dir, run as `nginx -p dir -c conf -g "daemon off;"`.',
    unavailable: () => (findNginx() ? undefined : 'nginx is not installed (apt-get install nginx)'),
    async start(env, backend) {
      const binary = findNginx() as string;
      const dir = join(env.tmpDir, 'nginx');
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const conf = nginxConfig(dir, port, { host: backend.host, port: backend.port });
      const master = await env.processes.start({
        name: 'nginx',
        command: [
          ...env.pin('server'),
          binary,
          '-p',
          dir,
          '-c',
          conf,
          '-e',
          join(dir, 'error.log'),
          '-g',
          'daemon off;',
        ],
        ready: 'none',
      });
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(`${url}${BENCH_PATH}`, {
        name: 'nginx',
        check: answersProduct,
        alive: () => env.processes.alive(master),
      });
      return { url, proxy: [master], backend: [backend.process] };
    },
  },
  nodeProxy(
    'fastify-http-proxy',
    '@fastify/http-proxy',
    'fastify-http-proxy.js',
    '@fastify/http-proxy 11 on Fastify 5 (logger off), `upstream` = the backend, everything else its defaults (undici underneath).',
  ),
  nodeProxy(
    'floor',
    'floor: Fastify + undici Pool',
    'floor.js',
    'The hand-rolled floor: Fastify 5 (logger off), one undici Pool to the backend, status and headers copied ' +
      '(hop-by-hop ones dropped), `reply.send(res.body)`. No discovery, no balancing, no breakers, no ids, no metrics, no logs.',
  ),
  {
    id: 'moleculer',
    label: 'moleculer-web over NATS',
    backendLabel: 'moleculer service',
    description:
      'moleculer-web 0.11 on a moleculer 0.15 broker (logger off, no request/response log lines), alias ' +
      '`GET /products/:id` → action `products.get` of a moleculer service in another broker process, over NATS ' +
      '(127.0.0.1:4222). Its backend is that moleculer service, not the meshkit one; NATS is a third process on the path.',
    unavailable: () => undefined,
    async start(env) {
      const namespace = `bench-${process.pid}`;
      const service = await env.processes.start({
        name: 'moleculer service',
        command: [...env.pin('server'), node, join(env.distDir, 'servers/moleculer-service.js')],
        env: baseEnv({ NATS_URL: env.natsUrl, MOLECULER_NAMESPACE: namespace }),
        ready: 'stderr-ready',
      });
      const port = await freePort();
      const web = await env.processes.start({
        name: 'moleculer-web',
        command: [...env.pin('server'), node, join(env.distDir, 'servers/moleculer-web.js')],
        env: baseEnv({ NATS_URL: env.natsUrl, MOLECULER_NAMESPACE: namespace, PORT: String(port) }),
        ready: 'stderr-ready',
      });
      await waitForHttp(`${web.url}${BENCH_PATH}`, { name: 'moleculer-web', check: answersProduct });
      const natsPort = Number(new URL(env.natsUrl).port || 4222);
      const natsPid = listenerPid(natsPort);
      return {
        url: web.url,
        proxy: [web],
        backend: [service],
        ...(natsPid === undefined ? {} : { broker: { label: 'NATS server', pid: natsPid } }),
      };
    },
  },
  meshkitGateway('meshkit', 'meshkit gateway', undefined, false),
  meshkitGateway('meshkit-quiet', 'meshkit gateway, LOG_LEVEL=warn', 'warn', true),
];

/** CPU seconds of a set of started processes (each with its descendants). */
export function cpuOf(started: readonly Started[]): number {
  return cpuSeconds(started.flatMap((p) => processTree(p.pid)));
}
