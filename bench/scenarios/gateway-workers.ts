import { cpus } from 'node:os';
import { findWrk, type LoadResult, runLoad } from '../lib/load.js';
import { cpuSeconds, processTree } from '../lib/proc-cpu.js';
import { BENCH_PATH } from '../lib/product.js';
import type { Scenario, ScenarioResult } from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { withProcesses } from './support/cleanup.js';
import { type Running, startBackend, startGateway } from './support/meshkit-stack.js';
import { startOwnRedis } from './support/own-redis.js';

/**
 * `GATEWAY_WORKERS=2` against one gateway process, as far as this machine allows: every process
 * (gateways, backend, load generator, Redis) may run on every core, since two workers pinned to
 * one core would prove nothing; so the workers share the cores with the load generator and the
 * backend, and the comparison says what the machine can show, not what more cores would give.
 */

interface Variant {
  workers: number;
  gateway: Running & { port: number };
}

interface Sample {
  load: LoadResult;
  /** CPU seconds of the gateway's processes (the primary and each worker) during the run, by pid. */
  cpuByPid: Map<number, number>;
  backendCpu: number;
}

/** The processes of a gateway: the primary and, with GATEWAY_WORKERS, its workers. */
function cpuByPid(root: number): Map<number, number> {
  return new Map(processTree(root).map((pid) => [pid, cpuSeconds([pid])]));
}

export const gatewayWorkers: Scenario = {
  name: 'gateway-workers',
  async run({ quick, pin, gatewayNodeOptions }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 3;
    const seconds = quick ? 2 : 10;
    const cores = cpus().length; // not availableParallelism(): that is this (pinned) process's share
    const tool = findWrk() ? 'wrk' : 'autocannon';
    // The harness pins itself (and so its children) to one core: give every process all of them back.
    const everywhere = pin('server').length > 0 ? ['taskset', '-c', `0-${cores - 1}`] : [];
    return withProcesses(async (processes) => {
      const redis = await startOwnRedis(processes, everywhere);
      try {
        const mesh = { redisUrl: redis.url, registryPrefix: 'bench-gateway-workers:' };
        const backend = await startBackend(processes, everywhere, mesh);
        const variants: Variant[] = [];
        for (const workers of [1, 2]) {
          const gateway = await startGateway(processes, everywhere, mesh, {
            ...(workers > 1 ? { workers } : {}),
            nodeOptions: gatewayNodeOptions,
          });
          variants.push({ workers, gateway });
        }
        const load = (v: Variant, durationS: number) =>
          runLoad({ tool, url: `${v.gateway.url}${BENCH_PATH}`, connections: 50, durationS, pin: everywhere });
        for (const v of variants) await load(v, quick ? 1 : 3); // warm-up: JIT, pools, discovery

        const samples = new Map<number, Sample[]>(variants.map((v) => [v.workers, []]));
        for (let round = 0; round < rounds; round += 1) {
          for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
            const before = cpuByPid(v.gateway.process.pid);
            const backendBefore = cpuSeconds([backend.process.pid]);
            const result = await load(v, seconds);
            const after = cpuByPid(v.gateway.process.pid);
            const delta = new Map([...after].map(([pid, s]) => [pid, s - (before.get(pid) ?? 0)]));
            samples.get(v.workers)?.push({
              load: result,
              cpuByPid: delta,
              backendCpu: cpuSeconds([backend.process.pid]) - backendBefore,
            });
          }
        }

        const rows: (string | number)[][] = [];
        const rpsOf = new Map<number, number>();
        let smallestShare = 1;
        for (const v of variants) {
          const list = samples.get(v.workers) ?? [];
          const rps = median(list.map((s) => s.load.rps));
          rpsOf.set(v.workers, rps);
          const gatewayUs = median(
            list.map((s) => ([...s.cpuByPid.values()].reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, s.load.requests)),
          );
          const backendUs = median(list.map((s) => (s.backendCpu * 1e6) / Math.max(1, s.load.requests)));
          // Each worker's share of the gateway's CPU (the primary only supervises and hands out connections).
          let shares = '—';
          if (v.workers > 1) {
            const primary = v.gateway.process.pid;
            const perRound = list.map((s) => {
              const workers = [...s.cpuByPid].filter(([pid]) => pid !== primary).map(([, cpu]) => cpu);
              const total = workers.reduce((a, b) => a + b, 0);
              return workers.map((cpu) => cpu / Math.max(1e-9, total)).sort((a, b) => b - a);
            });
            const byRank = Array.from({ length: v.workers }, (_, i) => median(perRound.map((r) => r[i] ?? 0)));
            smallestShare = Math.min(...byRank);
            shares = byRank.map((x) => `${(x * 100).toFixed(0)} %`).join(' / ');
          }
          rows.push([
            v.workers,
            Math.round(rps),
            (median(list.map((s) => s.load.p50Us)) / 1000).toFixed(2),
            (median(list.map((s) => s.load.p99Us)) / 1000).toFixed(2),
            gatewayUs.toFixed(1),
            backendUs.toFixed(1),
            shares,
            list.reduce((sum, s) => sum + s.load.failures, 0),
          ]);
        }
        const gain = (rpsOf.get(2) ?? Number.NaN) / (rpsOf.get(1) ?? Number.NaN);
        return {
          title: `GATEWAY_WORKERS: 1 vs 2 gateway workers on one port, ${cores} cores shared by everything`,
          columns: [
            'workers',
            'req/s',
            'p50 ms',
            'p99 ms',
            'gateway CPU µs per request (all its processes)',
            'backend CPU µs per request',
            'CPU share per worker',
            'failed requests',
          ],
          rows,
          targets: [
            {
              name: 'GATEWAY_WORKERS=2: both workers take load (smaller share of the workers\' CPU)',
              value: `${(smallestShare * 100).toFixed(0)} %`,
              limit: '≥ 25 %',
              met: smallestShare >= 0.25,
            },
          ],
          notes: [
            `2 workers ÷ 1: ${gain.toFixed(2)} × the requests per second. On this ${cores}-core machine that says little about ` +
              'more cores: the load generator (' +
              `${tool}, 50 connections), the meshkit backend and Redis run on the same ${cores} cores as the workers (nothing is ` +
              'pinned here), so a second worker mostly competes with them; a gateway with cores of its own is what ' +
              'GATEWAY_WORKERS is for.',
            `\`meshkit run gateway\` (default LOG_LEVEL) with and without GATEWAY_WORKERS=2, both running throughout, ` +
              `in front of the harness's meshkit backend, registered on a redis-server of this scenario's own; ${rounds} round(s) ` +
              `of ${seconds} s, the two interleaved, medians. node:cluster hands connections to the workers round-robin; ` +
              'the primary only supervises.',
          ],
        };
      } finally {
        redis.close();
      }
    });
  },
};
