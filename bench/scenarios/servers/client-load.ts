// A closed-loop load generator inside a client library: CONCURRENCY requests in flight until
// REQUESTS are done or DURATION_MS has passed (after WARMUP untimed ones, or untimed ones for
// WARMUP_MS), through either a raw undici Pool or a meshkit
// ServiceClient over a StaticInstanceSource of TARGETS. Prints one JSON line (ClientLoadResult).
import { ServiceClient, type ServiceInstance, StaticInstanceSource, type StrategyName } from '@meshkit/toolkit';
import { Pool } from 'undici';
import { BENCH_PATH } from '../../lib/product.js';
import type { ClientLoadResult } from '../support/client-load-result.js';

type Mode = 'pool' | 'client';

const mode = (process.env.MODE ?? 'pool') as Mode;
const targets = (process.env.TARGETS ?? '').split(',').filter(Boolean);
const requests = Number(process.env.REQUESTS ?? 10_000);
const warmup = Number(process.env.WARMUP ?? 1000);
const warmupMs = Number(process.env.WARMUP_MS ?? 0);
const durationMs = Number(process.env.DURATION_MS ?? 0);
const concurrency = Number(process.env.CONCURRENCY ?? 32);
const strategy = (process.env.STRATEGY ?? 'round_robin') as StrategyName;
if (targets.length === 0) throw new Error('TARGETS must name at least one http://host:port');

const SERVICE = 'bench-service';

/** One request: resolves with which target answered. Both read and parse the JSON body. */
type Send = () => Promise<number>;

function poolSender(): { send: Send; close(): Promise<void> } {
  const pool = new Pool(targets[0] as string, { connections: 64 }); // the ServiceClient's default per instance
  const send: Send = async () => {
    const res = await pool.request({ method: 'GET', path: BENCH_PATH, headers: { accept: 'application/json' } });
    await res.body.json();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    return 0;
  };
  return { send, close: () => pool.close() };
}

function clientSender(): { send: Send; close(): Promise<void> } {
  const index = new Map<string, number>();
  const instances: ServiceInstance[] = targets.map((target, i) => {
    const url = new URL(target);
    const id = `instance-${i}`;
    index.set(id, i);
    return {
      id,
      service: SERVICE,
      version: '1.0.0',
      host: url.hostname,
      port: Number(url.port),
      weight: 1,
      tags: [],
      meta: {},
      status: 'healthy',
      registeredAt: 0,
      lastHeartbeat: 0,
    };
  });
  // Every policy at its default (breakers, outlier ejection, retries with a budget); only the strategy is chosen.
  const client = new ServiceClient({ source: new StaticInstanceSource(instances), strategy });
  const send: Send = async () => {
    const res = await client.call(SERVICE, { method: 'GET', path: BENCH_PATH });
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    return index.get(res.instanceId) ?? -1;
  };
  return { send, close: () => client.close() };
}

/**
 * Runs `total` requests, `concurrency` at a time (or as many as fit before `until`, a
 * performance.now() time); records each one's latency (µs) and target when asked.
 */
async function run(send: Send, total: number, record: boolean, until = Number.POSITIVE_INFINITY) {
  const latencies: number[] = [];
  const byTarget = targets.map(() => 0);
  let next = 0;
  let failures = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total || performance.now() >= until) return;
      const start = performance.now();
      try {
        const target = await send();
        if (record) {
          latencies.push((performance.now() - start) * 1000);
          if (target >= 0) byTarget[target] = (byTarget[target] ?? 0) + 1;
        }
      } catch {
        failures += 1;
        if (record) latencies.push((performance.now() - start) * 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, byTarget, failures };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const sender = mode === 'client' ? clientSender() : poolSender();
if (warmupMs > 0) await run(sender.send, Number.POSITIVE_INFINITY, false, performance.now() + warmupMs);
else await run(sender.send, warmup, false);
const cpuBefore = process.cpuUsage();
const started = performance.now();
const until = durationMs > 0 ? started + durationMs : Number.POSITIVE_INFINITY;
const { latencies, byTarget, failures } = await run(sender.send, requests, true, until);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
await sender.close();
latencies.sort((x, y) => x - y);
const done = latencies.length;
const result: ClientLoadResult = {
  mode,
  requests: done,
  failures,
  seconds,
  rps: done / seconds,
  cpuUsPerRequest: (cpu.user + cpu.system) / done,
  p50Us: percentile(latencies, 50),
  p99Us: percentile(latencies, 99),
  byTarget,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
