import type { Scenario, ScenarioResult } from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { withProcesses } from './support/cleanup.js';
import { type ClientLoadResult, runClientLoad } from './support/client-load.js';
import { scenarioServer } from './support/paths.js';
import { serverEnv } from './support/server-env.js';

/**
 * ServiceClient (service to service) against a raw undici Pool, both driving the same tiny HTTP
 * server (its own process, on the server core) from a load process on the other core, with the
 * same requests in flight; rounds alternate which goes first. The client runs every default
 * policy (round robin, breaker, outlier ejection, retry budget); a StaticInstanceSource stands in
 * for discovery, whose reads are local anyway.
 */

const CONCURRENCY = 32;
const LIMIT = 0.1;

export const clientVsPool: Scenario = {
  name: 'client-vs-pool',
  async run({ quick, pin }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 5;
    const requests = quick ? 5_000 : 100_000;
    const warmup = quick ? 1_000 : 10_000;
    return withProcesses(async (processes) => {
      const server = await processes.start({
        name: 'tiny HTTP server',
        command: [...pin('server'), process.execPath, scenarioServer('delay-server')],
        env: serverEnv({ DELAY_MS: '0', PORT: '0' }),
        ready: 'stderr-ready',
      });
      const results: Record<'pool' | 'client', ClientLoadResult[]> = { pool: [], client: [] };
      const rpsRatios: number[] = [];
      const cpuRatios: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const order: ('pool' | 'client')[] = round % 2 === 0 ? ['pool', 'client'] : ['client', 'pool'];
        const got: Partial<Record<'pool' | 'client', ClientLoadResult>> = {};
        for (const mode of order) {
          const r = await runClientLoad({
            mode,
            targets: [server.url],
            requests,
            warmup,
            concurrency: CONCURRENCY,
            pin: pin('load'),
          });
          results[mode].push(r);
          got[mode] = r;
        }
        if (got.pool && got.client) {
          rpsRatios.push(got.client.rps / got.pool.rps);
          cpuRatios.push(got.client.cpuUsPerRequest / got.pool.cpuUsPerRequest);
        }
      }

      const row = (label: string, list: ClientLoadResult[]) => {
        const rps = median(list.map((r) => r.rps));
        return [
          label,
          Math.round(rps),
          (1e6 / rps).toFixed(1),
          median(list.map((r) => r.cpuUsPerRequest)).toFixed(1),
          (median(list.map((r) => r.p50Us)) / 1000).toFixed(2),
          (median(list.map((r) => r.p99Us)) / 1000).toFixed(2),
          list.reduce((sum, r) => sum + r.failures, 0),
        ];
      };
      const cpuRatio = median(cpuRatios);
      const rpsRatio = median(rpsRatios);
      const cpuPool = median(results.pool.map((r) => r.cpuUsPerRequest));
      const cpuClient = median(results.client.map((r) => r.cpuUsPerRequest));
      return {
        title: `ServiceClient vs a raw undici Pool: ${CONCURRENCY} requests in flight to one tiny HTTP server`,
        columns: [
          'client',
          'req/s',
          'µs per request (wall)',
          'CPU µs per request (client process)',
          'p50 ms',
          'p99 ms',
          'failed requests',
        ],
        rows: [row('undici Pool (raw)', results.pool), row('meshkit ServiceClient.call', results.client)],
        targets: [
          {
            name: 'ServiceClient CPU per request over a raw undici Pool\'s (median of per-round ratios)',
            value: `${((cpuRatio - 1) * 100).toFixed(1)} %`,
            limit: `≤ +${LIMIT * 100} %`,
            met: cpuRatio - 1 <= LIMIT,
          },
        ],
        notes: [
          `${rounds} round(s), each ${warmup} untimed then ${requests} timed GETs per client, the order alternating ` +
            'between rounds; each run is a fresh process pinned to the load core, the server (plain node:http, ' +
            'a 190-byte JSON answer, no delay) pinned to the server core. Both read and parse the JSON body; the Pool ' +
            'has 64 connections, the ServiceClient\'s default per instance.',
          `Client CPU per request: Pool ${cpuPool.toFixed(1)} µs, ServiceClient ${cpuClient.toFixed(1)} µs ` +
            `(${cpuClient >= cpuPool ? '+' : ''}${(cpuClient - cpuPool).toFixed(1)} µs: balancing, breaker, outlier and retry bookkeeping, ` +
            'header handling, latency tracking). The target is held on this CPU cost: on 2 cores the one server process ' +
            `is as busy as the client, so req/s also measures the server; ServiceClient ÷ Pool req/s was ${rpsRatio.toFixed(2)} × ` +
            '(median of per-round ratios).',
        ],
      };
    });
  },
};
