import { findWrk, type LoadResult, runLoad } from '../lib/load.js';
import { BENCH_PATH } from '../lib/product.js';
import type { Scenario, ScenarioResult } from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { withProcesses } from './support/cleanup.js';
import { startBackend, startGateway } from './support/meshkit-stack.js';
import { type CommandCalls, parseCommandStats, startOwnRedis } from './support/own-redis.js';

/**
 * No registry I/O on the request path: a meshkit backend and `meshkit run gateway` on a Redis of
 * this scenario's own; its command counts are reset, then read after a phase with no load, one with
 * one connection, and one with 50. What Redis sees per second must be the same in all three
 * (heartbeats and discovery resyncs) and nothing per request.
 */

interface Phase {
  name: string;
  /** Connections of the load generator; 0: no load at all. */
  connections: number;
}

const PHASES: Phase[] = [
  { name: 'no load', connections: 0 },
  { name: 'light: 1 connection', connections: 1 },
  { name: 'heavy: 50 connections', connections: 50 },
];

interface Sample {
  requests: number;
  seconds: number;
  calls: number;
  commands: CommandCalls[];
}

/** What the bench itself sends to read the counts: not the mesh's traffic. */
const isBenchOwn = (command: string) => command === 'info' || command.startsWith('config');

/** The registry's own rhythm: one heartbeat per instance per HEARTBEAT_MS, one discovery resync a second. */
const HEARTBEAT_MS = 2000;
const RESYNC_MS = 1000;

export const registryIo: Scenario = {
  name: 'registry-io',
  async run({ quick, pin, gatewayNodeOptions }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 3;
    const seconds = quick ? 2 : 10;
    const tool = findWrk() ? 'wrk' : 'autocannon';
    return withProcesses(async (processes) => {
      const redis = await startOwnRedis(processes, pin('server'));
      try {
        const mesh = { redisUrl: redis.url, registryPrefix: 'bench-registry-io:' };
        await startBackend(processes, pin('server'), mesh);
        const gateway = await startGateway(processes, pin('server'), mesh, {
          logLevel: 'warn',
          nodeOptions: gatewayNodeOptions,
        });
        const url = `${gateway.url}${BENCH_PATH}`;

        const samples = new Map<string, Sample[]>(PHASES.map((p) => [p.name, []]));
        let failures = 0;
        for (let round = 0; round < rounds; round += 1) {
          for (const phase of round % 2 === 0 ? PHASES : [...PHASES].reverse()) {
            await redis.admin.config('RESETSTAT');
            const started = performance.now();
            let load: LoadResult | undefined;
            if (phase.connections > 0) {
              load = await runLoad({ tool, url, connections: phase.connections, durationS: seconds, pin: pin('load') });
              failures += load.failures;
            } else {
              await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
            }
            const info = await redis.admin.info('commandstats');
            const elapsed = (performance.now() - started) / 1000;
            const commands = parseCommandStats(info).filter((c) => !isBenchOwn(c.command));
            samples.get(phase.name)?.push({
              requests: load?.requests ?? 0,
              seconds: elapsed,
              calls: commands.reduce((sum, c) => sum + c.calls, 0),
              commands,
            });
          }
        }

        const idleRates = (samples.get(PHASES[0]?.name ?? '') ?? []).map((s) => s.calls / s.seconds);
        const idleRate = median(idleRates);
        const summary = PHASES.map((phase) => {
          const list = samples.get(phase.name) ?? [];
          const last = list[list.length - 1];
          return {
            phase,
            requests: median(list.map((s) => s.requests)),
            rps: median(list.map((s) => s.requests / s.seconds)),
            calls: median(list.map((s) => s.calls)),
            callsPerS: median(list.map((s) => s.calls / s.seconds)),
            // What the requests added: the calls beyond the no-load rate over the same time, per request.
            extraPerRequest:
              phase.connections > 0
                ? median(list.map((s) => Math.max(0, s.calls - idleRate * s.seconds) / Math.max(1, s.requests)))
                : Number.NaN,
            commands: last ? last.commands.map((c) => `${c.command} ${c.calls}`).join(', ') : '',
          };
        });
        const heavy = summary[summary.length - 1];
        if (!heavy || !(idleRate > 0)) throw new Error('registry-io: no Redis traffic measured with no load');
        const ratios = summary.slice(1).map((s) => s.callsPerS / idleRate);
        const worst = ratios.reduce((w, r) => (Math.abs(Math.log(r)) > Math.abs(Math.log(w)) ? r : w), 1);
        const perRequest = (x: number) => (Number.isNaN(x) ? '—' : x === 0 ? '0' : x.toExponential(1));

        return {
          title: 'Registry I/O on the request path: Redis INFO commandstats around load through the gateway',
          columns: [
            'phase',
            'requests',
            'req/s',
            'Redis calls',
            'calls/s',
            'extra calls per request',
            'commands (last round)',
          ],
          rows: summary.map((s) => [
            s.phase.name,
            Math.round(s.requests),
            Math.round(s.rps),
            Math.round(s.calls),
            s.callsPerS.toFixed(2),
            perRequest(s.extraPerRequest),
            s.commands,
          ]),
          targets: [
            {
              name: 'Redis calls per proxied request (heavy load, beyond the no-load rate)',
              value: perRequest(heavy.extraPerRequest),
              limit: '< 0.001',
              met: heavy.extraPerRequest < 0.001,
            },
            {
              name: 'Redis calls/s under load ÷ with no load (independent of requests)',
              value: `${worst.toFixed(2)} ×`,
              limit: '0.67–1.5 ×',
              met: worst >= 0.67 && worst <= 1.5,
            },
          ],
          notes: [
            `${rounds} round(s) of ${seconds} s per phase, phases interleaved, medians; load by ${tool} (pinned to the load core) ` +
              'to `GET /products/:id` through `meshkit run gateway` (LOG_LEVEL=warn) in front of the harness\'s meshkit backend, ' +
              'both registered on a redis-server of this scenario\'s own (no other client), `CONFIG RESETSTAT` before each phase; ' +
              "the bench's own INFO/CONFIG calls are left out. " +
              '"Extra calls per request" = (calls in the phase − the no-load rate × its duration) ÷ its requests: ' +
              'what the requests themselves cost in Redis.' +
              (failures > 0 ? ` The load generator counted ${failures} failed requests.` : ''),
            `What remains is the registry's rhythm: the backend's heartbeat every ${HEARTBEAT_MS} ms (HEARTBEAT_MS default) and the ` +
              `gateway's discovery resync every ${RESYNC_MS} ms, plus the change feed (a SUBSCRIBE, idle unless something changes).`,
            `For comparison only (not run): the seed looks the service up in Redis on every proxied request (\`KEYS service:*\` ` +
              `then a GET per key), i.e. ≥ 2 Redis calls per request: at the heavy phase's ${Math.round(heavy.rps)} req/s that ` +
              `would be ≥ ${Math.round(2 * heavy.rps)} calls/s instead of ${heavy.callsPerS.toFixed(1)}.`,
          ],
        };
      } finally {
        redis.close();
      }
    });
  },
};
