import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.js';
import { type ProcessSet, type Started, waitForHttp } from '../../lib/processes.js';
import { BENCH_PATH, BENCH_PRODUCT_ID } from '../../lib/product.js';
import { DIST_DIR, MESHKIT_BIN } from './paths.js';
import { serverEnv } from './server-env.js';

/** Where the processes of one scenario find each other: its Redis and a key prefix of its own. */
export interface Mesh {
  redisUrl: string;
  registryPrefix: string;
}

export interface Running {
  process: Started;
  url: string;
}

const answersProduct = (body: string) => body.includes(BENCH_PRODUCT_ID);

/** The harness's meshkit backend (bench/servers/backend.ts): `product-service` registered in Redis. */
export async function startBackend(processes: ProcessSet, pin: string[], mesh: Mesh): Promise<Running> {
  const started = await processes.start({
    name: 'meshkit backend',
    command: [...pin, process.execPath, join(DIST_DIR, 'servers/backend.js')],
    env: serverEnv({ REDIS_URL: mesh.redisUrl, REGISTRY_PREFIX: mesh.registryPrefix, PORT: '0', LOG_LEVEL: 'warn' }),
    ready: 'stderr-ready',
  });
  await waitForHttp(`${started.url}${BENCH_PATH}`, { name: 'meshkit backend', check: answersProduct });
  return { process: started, url: started.url };
}

export interface GatewayOptions {
  /** GATEWAY_WORKERS; default: unset (one process). */
  workers?: number;
  /** LOG_LEVEL; default: unset (info, as a user runs it: one access line per request, to /dev/null). */
  logLevel?: string;
  /** Open files the gateway may hold; raised with `ulimit -n` in a shell when this process has fewer. */
  minOpenFiles?: number;
  /** NODE_OPTIONS; default: unset. */
  nodeOptions?: string;
}

/** `meshkit run gateway` as a user runs it, discovering the backend through the scenario's Redis. */
export async function startGateway(
  processes: ProcessSet,
  pin: string[],
  mesh: Mesh,
  options: GatewayOptions = {},
): Promise<Running & { port: number }> {
  const port = await freePort();
  const node = [process.execPath, MESHKIT_BIN, 'run', 'gateway'];
  const want = options.minOpenFiles ?? 0;
  const command =
    want > openFilesLimit()
      ? [...pin, 'sh', '-c', `ulimit -n ${want} && exec "$@"`, 'sh', ...node]
      : [...pin, ...node];
  const started = await processes.start({
    name: options.workers ? `meshkit gateway (GATEWAY_WORKERS=${options.workers})` : 'meshkit gateway',
    command,
    env: serverEnv({
      REDIS_URL: mesh.redisUrl,
      REGISTRY_PREFIX: mesh.registryPrefix,
      GATEWAY_PORT: String(port),
      GATEWAY_WORKERS: options.workers === undefined ? undefined : String(options.workers),
      LOG_LEVEL: options.logLevel,
      NODE_OPTIONS: options.nodeOptions,
    }),
    ready: 'none',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}${BENCH_PATH}`, {
    name: started.name,
    check: answersProduct,
    alive: () => processes.alive(started),
  });
  // Each worker has its own discovery: up once requests on new connections (spread over them) all get through.
  const deadline = Date.now() + 30_000;
  while (!(await allAnswer(port, 2 * (options.workers ?? 1) + 2))) {
    if (Date.now() > deadline) throw new Error(`${started.name}: not every worker answers ${BENCH_PATH}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { process: started, url, port };
}

/** Whether `n` requests, each on a new connection, all answer 200. */
async function allAnswer(port: number, n: number): Promise<boolean> {
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: BENCH_PATH, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
    });
  for (let i = 0; i < n; i += 1) if (!(await one())) return false;
  return true;
}

/** This process's soft limit of open files (children inherit it). */
export function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return 1024;
  }
}

/** Resident memory of a process in MiB, from /proc/<pid>/status (VmRSS), or NaN once it is gone. */
export function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
