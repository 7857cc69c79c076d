import { execFile } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { findWrk, type LoadTool, runLoad } from '../lib/load.js';
import { BENCH_PATH } from '../lib/product.js';
import type { Scenario, ScenarioResult } from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { withProcesses } from './support/cleanup.js';
import { rssMiB, startBackend, startGateway } from './support/meshkit-stack.js';
import { startOwnRedis } from './support/own-redis.js';
import { DIST_DIR, REPO_ROOT } from './support/paths.js';
import { serverEnv } from './support/server-env.js';

/**
 * The gateway's memory while it holds 1,000 idle keep-alive client connections (each opened with
 * one proxied request, then left open) and serves load on 50 other connections: VmRSS from
 * /proc/<pid>/status, sampled every 100 ms during the load, beside the same load without them.
 */

const IDLE = 1000;
const LIMIT_MIB = 100;
const SAMPLE_MS = 100;

/**
 * Opens `n` connections, sends one keep-alive GET on each and waits for its answer; they stay
 * open. `open()` counts those that answered 200 and are still open.
 */
async function openIdle(port: number, n: number): Promise<{ sockets: net.Socket[]; open(): number }> {
  const sockets: net.Socket[] = [];
  let held = 0;
  const request = `GET ${BENCH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      sockets.push(socket);
      let answered = false;
      socket.setNoDelay(true);
      socket.once('connect', () => socket.write(request));
      socket.once('data', (chunk: Buffer) => {
        answered = chunk.toString('latin1', 0, 12) === 'HTTP/1.1 200';
        if (answered) held += 1;
        resolve();
      });
      socket.once('error', () => resolve());
      socket.once('close', () => {
        if (answered) held -= 1;
        resolve();
      });
    });
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, one));
  }
  return { sockets, open: () => held };
}

/** Samples `pid`'s VmRSS until `done` settles; resolves with the largest sample (MiB). */
async function maxRssDuring(pid: number, done: Promise<unknown>): Promise<number> {
  let max = rssMiB(pid);
  const timer = setInterval(() => {
    max = Math.max(max, rssMiB(pid));
  }, SAMPLE_MS);
  try {
    await done;
  } finally {
    clearInterval(timer);
  }
  return Math.max(max, rssMiB(pid));
}

interface Proxy {
  label: string;
  pid: number;
  port: number;
}

interface Measured {
  startRss: number;
  loadOnly: number[];
  idleOnly: number[];
  idleAndLoad: number[];
  rps: number[];
  /** The fewest idle connections still open at the end of a loaded phase. */
  stillOpen: number;
  /** Failed requests of the load generator (non-2xx, socket errors, timeouts), every phase together. */
  failures: number;
}

/** One round on one proxy: load alone, then the idle connections alone, then both. */
async function measureRound(
  proxy: Proxy,
  into: Measured,
  options: { tool: LoadTool; seconds: number; pin: string[] },
): Promise<void> {
  const load = async () => {
    const url = `http://127.0.0.1:${proxy.port}${BENCH_PATH}`;
    const r = await runLoad({ tool: options.tool, url, connections: 50, durationS: options.seconds, pin: options.pin });
    into.failures += r.failures; // reported, not fatal: the memory reading stands either way
    return r;
  };
  into.loadOnly.push(await maxRssDuring(proxy.pid, load()));
  const idle = await openIdle(proxy.port, IDLE);
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    into.idleOnly.push(rssMiB(proxy.pid));
    let rps = 0;
    into.idleAndLoad.push(await maxRssDuring(proxy.pid, load().then((r) => (rps = r.rps))));
    into.rps.push(rps);
    into.stillOpen = Math.min(into.stillOpen, idle.open());
  } finally {
    for (const s of idle.sockets) s.destroy();
  }
}

/**
 * RSS (MiB) of a fresh Node process after importing `specifier` (nothing when undefined), settled
 * for half a second: how much of a server's memory is its code before any work.
 */
function importRss(pin: string[], specifier: string | undefined): Promise<number> {
  const code =
    (specifier ? `await import(${JSON.stringify(specifier)});` : '') +
    'await new Promise((r) => setTimeout(r, 500)); process.stdout.write(String(process.memoryUsage().rss));';
  const argv = [...pin, process.execPath, '--input-type=module', '-e', code];
  return new Promise((resolve, reject) => {
    execFile(argv[0] as string, argv.slice(1), { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`importing ${specifier ?? 'nothing'} failed: ${err.message}\n${stderr}`));
      else resolve(Number(stdout) / 2 ** 20);
    });
  });
}

export const idleConnections: Scenario = {
  name: 'idle-connections',
  async run({ quick, pin, gatewayNodeOptions }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 3;
    const seconds = quick ? 2 : 10;
    const tool = findWrk() ? 'wrk' : 'autocannon';
    return withProcesses(async (processes) => {
      const redis = await startOwnRedis(processes, pin('server'));
      try {
        const mesh = { redisUrl: redis.url, registryPrefix: 'bench-idle-connections:' };
        const backend = await startBackend(processes, pin('server'), mesh);
        // Default LOG_LEVEL (info): every feature on, as a user runs it; its access log goes to /dev/null.
        const gateway = await startGateway(processes, pin('server'), mesh, {
          minOpenFiles: IDLE + 1024,
          nodeOptions: gatewayNodeOptions,
        });
        // The floor (Fastify + undici Pool, no features) beside it: what any Node proxy holds in the same state.
        const floor = await processes.start({
          name: 'floor: Fastify + undici Pool',
          command: [...pin('server'), process.execPath, join(DIST_DIR, 'servers/floor.js')],
          env: serverEnv({ UPSTREAM: backend.url, PORT: '0' }),
          ready: 'stderr-ready',
        });
        const proxies: Proxy[] = [
          { label: 'meshkit gateway', pid: gateway.process.pid, port: gateway.port },
          { label: 'floor: Fastify + undici Pool', pid: floor.pid, port: Number(new URL(floor.url).port) },
        ];
        const measured = new Map<string, Measured>();
        for (const proxy of proxies) {
          const fresh: Measured = {
            startRss: rssMiB(proxy.pid),
            loadOnly: [],
            idleOnly: [],
            idleAndLoad: [],
            rps: [],
            stillOpen: IDLE,
            failures: 0,
          };
          measured.set(proxy.label, fresh);
        }
        for (let round = 0; round < rounds; round += 1) {
          for (const proxy of round % 2 === 0 ? proxies : [...proxies].reverse()) {
            await measureRound(proxy, measured.get(proxy.label) as Measured, { tool, seconds, pin: pin('load') });
          }
        }
        const mib = (x: number) => x.toFixed(1);
        const rows: (string | number)[][] = [];
        const failures: string[] = [];
        for (const proxy of proxies) {
          const m = measured.get(proxy.label) as Measured;
          if (m.failures > 0) failures.push(`${proxy.label}: ${m.failures} failed requests under load`);
          rows.push(
            [proxy.label, 'started, before any load', 0, 0, mib(m.startRss)],
            [proxy.label, 'under load', 0, 50, mib(median(m.loadOnly))],
            [proxy.label, 'idle connections, no load', IDLE, 0, mib(median(m.idleOnly))],
            [proxy.label, 'idle connections and load', IDLE, 50, mib(median(m.idleAndLoad))],
          );
        }
        const bare = await importRss(pin('server'), undefined);
        const toolkit = await importRss(pin('server'), '@meshkit/toolkit/core');
        const g = measured.get('meshkit gateway') as Measured;
        const withIdle = median(g.idleAndLoad);
        const peak = rssMiB(gateway.process.pid, 'VmHWM');
        return {
          title: `Gateway memory holding ${IDLE} idle keep-alive connections under load`,
          columns: ['proxy', 'state', 'idle connections', 'load connections', 'VmRSS MiB (max sampled)'],
          rows,
          targets: [
            {
              name: `gateway RSS with ${IDLE} idle keep-alive connections under load`,
              value: `${mib(withIdle)} MiB`,
              limit: `≤ ${LIMIT_MIB} MiB`,
              met: withIdle <= LIMIT_MIB && g.stillOpen === IDLE,
            },
          ],
          notes: [
            `\`meshkit run gateway\` (default LOG_LEVEL, every feature on) in front of the harness's meshkit backend, both ` +
              `on the server core, registered on a redis-server of this scenario's own; the floor proxy (informational, ` +
              `no target) in front of the same backend. ${IDLE} connections opened by the bench, each with one proxied ` +
              `\`GET ${BENCH_PATH}\` (keep-alive), then left idle; load: ${tool}, 50 other connections, ${seconds} s, pinned ` +
              `to the load core (gateway: median ${Math.round(median(g.rps))} req/s with the idle connections held).`,
            `${rounds} round(s), proxies interleaved, medians of the largest VmRSS sampled every ${SAMPLE_MS} ms; the gateway's ` +
              `peak over the whole scenario (VmHWM) was ${mib(peak)} MiB. Idle connections still open when the load ended: ` +
              `${g.stillOpen} of ${IDLE} (Fastify keeps idle keep-alive connections 72 s by default).`,
            'Most of the gateway\'s memory is there before the first request: a fresh Node process holds ' +
              `${mib(bare)} MiB, and ${mib(toolkit)} MiB once it has imported @meshkit/toolkit/core (what the gateway ` +
              'imports of the toolkit: Fastify, ioredis, pino, prom-client, cockatiel and the OpenTelemetry API; database ' +
              'drivers and the tracing SDK load only when used) and nothing else, with V8 sizing its young generation ' +
              'as it likes (`meshkit run gateway` caps it once serving).',
            ...failures,
          ],
        };
      } finally {
        redis.close();
      }
    });
  },
};
