import type { Scenario, ScenarioResult } from '../lib/scenario.js';
import { median } from '../lib/stats.js';
import { withProcesses } from './support/cleanup.js';
import { type ClientLoadResult, runClientLoad } from './support/client-load.js';
import { scenarioServer } from './support/paths.js';
import { serverEnv } from './support/server-env.js';

/**
 * One instance of three 10 × slower: a ServiceClient with `p2c_ewma` against `round_robin`, and
 * the all-healthy p99 (three fast instances, `p2c_ewma`) as the baseline, measured in the same
 * rounds. Each instance is its own process on the server core; the client runs in a load process
 * on the other core, closed loop, a fixed number of requests in flight.
 */

const FAST_MS = 2;
const SLOW_MS = 20;
const LIMIT = 1.5;

interface Config {
  label: string;
  strategy: 'p2c_ewma' | 'round_robin';
  degraded: boolean;
}

const CONFIGS: Config[] = [
  { label: 'all healthy (baseline)', strategy: 'p2c_ewma', degraded: false },
  { label: 'one 10 × slower', strategy: 'p2c_ewma', degraded: true },
  { label: 'one 10 × slower', strategy: 'round_robin', degraded: true },
];

export const slowInstance: Scenario = {
  name: 'slow-instance',
  async run({ quick, pin }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 3;
    const durationMs = quick ? 1_500 : 5_000;
    const warmupMs = quick ? 1_000 : 2_000;
    // The target is held at 8 in flight; the full run shows 2 and 32 beside it.
    const inFlight = quick ? [8] : [2, 8, 32];
    return withProcesses(async (processes) => {
      const start = (name: string, delayMs: number) =>
        processes.start({
          name,
          command: [...pin('server'), process.execPath, scenarioServer('delay-server')],
          env: serverEnv({ DELAY_MS: String(delayMs), PORT: '0' }),
          ready: 'stderr-ready',
        });
      const [a, b, c, slow] = await Promise.all([
        start('fast instance A', FAST_MS),
        start('fast instance B', FAST_MS),
        start('fast instance C', FAST_MS),
        start('slow instance', SLOW_MS),
      ]);
      if (!a || !b || !c || !slow) throw new Error('slow-instance: an instance did not start');
      const healthy = [a.url, b.url, c.url];
      const degraded = [a.url, b.url, slow.url];

      const results = new Map<string, ClientLoadResult[]>();
      const key = (n: number, config: Config) => `${n}|${config.strategy}|${config.degraded}`;
      for (let round = 0; round < rounds; round += 1) {
        for (const n of inFlight) {
          for (const config of round % 2 === 0 ? CONFIGS : [...CONFIGS].reverse()) {
            const r = await runClientLoad({
              mode: 'client',
              targets: config.degraded ? degraded : healthy,
              strategy: config.strategy,
              requests: 1_000_000,
              durationMs,
              warmup: { ms: warmupMs },
              concurrency: n,
              pin: pin('load'),
            });
            const list = results.get(key(n, config)) ?? [];
            list.push(r);
            results.set(key(n, config), list);
          }
        }
      }

      const rows: (string | number)[][] = [];
      const targets: ScenarioResult['targets'] = [];
      const p99 = (n: number, config: Config) => median((results.get(key(n, config)) ?? []).map((r) => r.p99Us));
      for (const n of inFlight) {
        const baseline = p99(n, CONFIGS[0] as Config);
        for (const config of CONFIGS) {
          const list = results.get(key(n, config)) ?? [];
          const slowShare = config.degraded
            ? median(list.map((r) => (r.byTarget[2] ?? 0) / Math.max(1, r.requests)))
            : Number.NaN;
          const p99Us = p99(n, config);
          rows.push([
            n,
            config.label,
            config.strategy,
            Math.round(median(list.map((r) => r.rps))),
            (median(list.map((r) => r.p50Us)) / 1000).toFixed(2),
            (p99Us / 1000).toFixed(2),
            `${(p99Us / baseline).toFixed(2)} ×`,
            Number.isNaN(slowShare) ? '—' : `${(slowShare * 100).toFixed(1)} %`,
            list.reduce((sum, r) => sum + r.failures, 0),
          ]);
        }
        if (n === 8) {
          const ratio = p99(n, CONFIGS[1] as Config) / baseline;
          targets.push({
            name: `p2c_ewma p99 with one instance 10 × slower ÷ all-healthy p99 (${n} in flight)`,
            value: `${ratio.toFixed(2)} ×`,
            limit: `≤ ${LIMIT} ×`,
            met: ratio <= LIMIT,
          });
        }
      }
      return {
        title: `One of three instances 10 × slower (${SLOW_MS} ms vs ${FAST_MS} ms): p2c_ewma vs round_robin`,
        columns: ['in flight', 'instances', 'strategy', 'req/s', 'p50 ms', 'p99 ms', 'p99 ÷ all-healthy', 'share to the slow one', 'failed'],
        rows,
        targets,
        notes: [
          `Instances: plain node:http servers answering after a fixed ${FAST_MS} ms (fast) or ${SLOW_MS} ms (slow), each its own ` +
            'process on the server core. Client: a meshkit ServiceClient over a StaticInstanceSource, every default policy on ' +
            '(breaker, outlier ejection, retry budget), in a fresh load process on the other core per run.',
          `${rounds} round(s), configurations interleaved (order alternating), medians; each run ${warmupMs} ms of untimed ` +
            `warm-up (the peak-EWMA estimates start at 30 ms and decay with a 10 s constant), then ${durationMs} ms timed.`,
          'The slow instance never fails, so neither breakers nor outlier ejection act: only the strategy keeps traffic off it. ' +
            'p2c_ewma weighs each instance by its peak-EWMA latency × (in-flight + 1): a busy fast instance can look dearer ' +
            'than an idle slow one, and a latency spike counts in full and fades only with time (10 s constant) — an ' +
            'instance not picked gets no sample to correct it — so on a noisy machine one spike on a fast instance ' +
            'can leave traffic on the slow one for seconds. The share to the slow instance varies a lot between runs for that reason.',
        ],
      };
    });
  },
};
