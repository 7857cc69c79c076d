import type { BenchEnv, Contender, RunningContender, SharedBackend } from './contenders.js';
import { cpuOf, startBackend } from './contenders.js';
import { type LoadResult, type LoadTool, runLoad } from './load.js';
import { CLK_TCK, coreTicks, cpuSeconds } from './proc-cpu.js';
import { BENCH_PATH } from './product.js';
import { median } from './stats.js';

export interface ProxyBenchOptions {
  env: BenchEnv;
  contenders: Contender[];
  rounds: number;
  /** Measured run at `connections`, seconds. */
  durationS: number;
  /** Unmeasured run before it, seconds (0: none). */
  warmupS: number;
  /**
   * Unmeasured load on each contender once, before the first round, seconds: until V8 has
   * optimised a Node proxy's hot path it runs several times slower, and a 1-2 s warm-up under
   * 50 connections is not enough for that on a busy machine.
   */
  primeS: number;
  /**
   * The 1-connection latency: direct's run, seconds; every other contender's, as this many pairs
   * of 1 s runs back to back with direct (`pairedLatency`).
   */
  latencyS: number;
  connections: number;
  tool: LoadTool;
  log: (line: string) => void;
}

export interface Measurement {
  round: number;
  /** Position in its round (the order rotates from round to round). */
  slot: number;
  load: LoadResult;
  /** The same contender at 1 connection (paired with direct: its runs taken together, p50 and p99 the medians of theirs). */
  single: LoadResult;
  /** Its 1-connection p50 over direct's, from runs paired with direct's (not for direct itself). */
  addedUs?: number;
  /** The proxy's CPU per request in its 1-connection runs (not for direct). */
  singleProxyUs?: number;
  proxyUs: number;
  backendUs: number;
  brokerUs?: number;
  /**
   * Share of the server core (when pinned) busy with something other than this contender's
   * processes during the measured run: other sessions' work, the kernel's share of loopback
   * traffic, NATS. Noise to read the round by, in %.
   */
  otherLoadPercent?: number;
}

export interface ContenderOutcome {
  contender: Contender;
  status: 'ok' | 'unavailable' | 'failed';
  /** Why it is unavailable or failed. */
  reason?: string;
  measurements: Measurement[];
  brokerLabel?: string;
}

export interface ProxyBenchResult {
  outcomes: ContenderOutcome[];
  backend: SharedBackend;
}

/**
 * Starts the shared backend and every contender (all stay up, idle when not measured), then runs
 * `rounds` rounds; each round measures every contender once, in an order rotated by one from the
 * previous round and run backwards every other round, so no contender always runs first or right
 * after the same neighbour (a busy neighbour's after-effects would otherwise always land on it).
 */
export async function runProxyBench(options: ProxyBenchOptions): Promise<ProxyBenchResult> {
  const { env, log } = options;
  log('starting the meshkit backend (registered in Redis)');
  const backend = await startBackend(env);

  const outcomes: ContenderOutcome[] = [];
  const running = new Map<ContenderOutcome, RunningContender>();
  for (const contender of options.contenders) {
    const reason = contender.unavailable();
    if (reason !== undefined) {
      log(`${contender.label}: not available: ${reason}`);
      outcomes.push({ contender, status: 'unavailable', reason, measurements: [] });
      continue;
    }
    const outcome: ContenderOutcome = { contender, status: 'ok', measurements: [] };
    outcomes.push(outcome);
    try {
      log(`starting ${contender.label}`);
      const started = await contender.start(env, backend);
      running.set(outcome, started);
      if (started.broker) outcome.brokerLabel = started.broker.label;
    } catch (err) {
      outcome.status = 'failed';
      outcome.reason = `could not start: ${(err as Error).message}`;
      log(`${contender.label}: ${outcome.reason}`);
    }
  }

  if (options.primeS > 0) {
    for (const outcome of outcomes.filter((o) => o.status === 'ok')) {
      const target = running.get(outcome) as RunningContender;
      try {
        const { seconds, rps } = await prime(options, target.url);
        log(`warmed ${outcome.contender.id} up for ${seconds} s (last second: ${rps.toFixed(0)} req/s)`);
      } catch (err) {
        outcome.status = 'failed';
        outcome.reason = `failed while warming up: ${(err as Error).message}`;
        log(`  ${outcome.contender.id}: ${outcome.reason}`);
      }
    }
  }

  const directOutcome = outcomes.find((o) => o.contender.id === 'direct' && o.status === 'ok');
  const direct = directOutcome === undefined ? undefined : running.get(directOutcome);
  for (let round = 0; round < options.rounds; round++) {
    const live = outcomes.filter((o) => o.status === 'ok');
    const order = live.map((_, i) => live[(i + round) % live.length] as ContenderOutcome);
    if (round % 2 === 1) order.reverse();
    log(`round ${round + 1}/${options.rounds}: ${order.map((o) => o.contender.id).join(', ')}`);
    for (const [slot, outcome] of order.entries()) {
      const target = running.get(outcome) as RunningContender;
      try {
        const m = await measure(options, target, round, slot, target === direct ? undefined : direct);
        outcome.measurements.push(m);
        log(
          `  ${outcome.contender.id.padEnd(20)} ${m.load.rps.toFixed(0).padStart(7)} req/s  p50 ${fmtUs(m.load.p50Us)}  ` +
            `p99 ${fmtUs(m.load.p99Us)}  proxy ${m.proxyUs.toFixed(1)} µs/req  backend ${m.backendUs.toFixed(1)} µs/req  ` +
            `1-conn p50 ${fmtUs(m.single.p50Us)}` +
            (m.addedUs === undefined ? '' : ` (+${fmtUs(m.addedUs)} over direct, paired)`) +
            (m.load.failures > 0 ? `  FAILURES ${m.load.failures}` : ''),
        );
      } catch (err) {
        outcome.status = 'failed';
        outcome.reason = `failed in round ${round + 1}: ${(err as Error).message}`;
        log(`  ${outcome.contender.id}: ${outcome.reason}`);
      }
    }
  }
  return { outcomes, backend };
}

/**
 * Load in 1 s steps for at least `primeS` seconds and until two steps in a row agree within 10 %
 * (V8 has optimised the hot path), at most 3 × `primeS`.
 */
async function prime(options: ProxyBenchOptions, url: string): Promise<{ seconds: number; rps: number }> {
  let previous = 0;
  let seconds = 0;
  for (;;) {
    const r = await runLoad({
      tool: options.tool,
      url: `${url}${BENCH_PATH}`,
      connections: options.connections,
      durationS: 1,
      pin: options.env.pin('load'),
    });
    seconds += 1;
    const steady = previous > 0 && Math.abs(r.rps - previous) <= 0.1 * previous;
    if ((seconds >= options.primeS && steady) || seconds >= 3 * options.primeS) return { seconds, rps: r.rps };
    previous = r.rps;
  }
}

async function measure(
  options: ProxyBenchOptions,
  target: RunningContender,
  round: number,
  slot: number,
  /** Direct, to pair the 1-connection runs with; undefined for direct itself. */
  direct: RunningContender | undefined,
): Promise<Measurement> {
  const url = `${target.url}${BENCH_PATH}`;
  const load = (connections: number, durationS: number) =>
    runLoad({ tool: options.tool, url, connections, durationS, pin: options.env.pin('load') });
  for (const p of [...target.proxy, ...target.backend]) {
    if (!options.env.processes.alive(p)) throw new Error(`${p.name} is no longer running`);
  }

  if (options.warmupS > 0) await load(options.connections, options.warmupS);

  const proxyBefore = cpuOf(target.proxy);
  const backendBefore = cpuOf(target.backend);
  const brokerBefore = target.broker ? cpuSeconds([target.broker.pid]) : 0;
  const core = options.env.serverCore;
  const coreBefore = core === undefined ? undefined : coreTicks(core);
  let result = await load(options.connections, options.durationS);
  if (result.requests === 0) {
    // Starved (a busy machine) or still cold: once more, longer, before calling it broken.
    options.log(`  nothing completed in ${options.durationS} s: measuring again for ${options.durationS + 2} s`);
    result = await load(options.connections, options.durationS + 2);
  }
  const proxyCpu = cpuOf(target.proxy) - proxyBefore;
  const backendCpu = cpuOf(target.backend) - backendBefore;
  const brokerCpu = target.broker ? cpuSeconds([target.broker.pid]) - brokerBefore : 0;
  const coreAfter = core === undefined ? undefined : coreTicks(core);
  let otherLoadPercent: number | undefined;
  if (coreBefore && coreAfter && coreAfter.total > coreBefore.total) {
    const ours = (proxyCpu + backendCpu) * CLK_TCK;
    const busy = coreAfter.busy - coreBefore.busy;
    otherLoadPercent = Math.max(0, (100 * (busy - ours)) / (coreAfter.total - coreBefore.total));
  }
  if (result.requests === 0) throw new Error('no request completed');
  if (result.failures > result.requests / 2) {
    throw new Error(`${result.failures} of ${result.requests} requests failed: the contender does not work`);
  }

  const latency =
    direct === undefined
      ? { single: await load(1, options.latencyS), addedUs: undefined }
      : await pairedLatency(options, target, url, `${direct.url}${BENCH_PATH}`);
  const perRequestUs = (seconds: number) => (seconds * 1e6) / result.requests;
  return {
    round,
    slot,
    load: result,
    single: latency.single,
    ...(latency.addedUs === undefined ? {} : { addedUs: latency.addedUs, singleProxyUs: latency.proxyUs }),
    proxyUs: perRequestUs(proxyCpu),
    backendUs: perRequestUs(backendCpu),
    ...(target.broker ? { brokerUs: perRequestUs(brokerCpu) } : {}),
    ...(otherLoadPercent === undefined ? {} : { otherLoadPercent }),
  };
}

/**
 * The latency a contender adds at 1 connection: `latencyS` pairs of 1 s runs, its own and
 * direct's back to back (which goes first alternates), and the median of the pairs' p50
 * differences. Runs next to each other see the same machine; direct's run in another slot of the
 * round, a minute away, saw it drift by more than the difference sought (on a noisy VM direct's
 * own 1-connection p50 moved between 121 and 217 µs from round to round).
 */
async function pairedLatency(
  options: ProxyBenchOptions,
  target: RunningContender,
  url: string,
  directUrl: string,
): Promise<{ single: LoadResult; addedUs: number; proxyUs: number }> {
  const oneSecond = (to: string) =>
    runLoad({ tool: options.tool, url: to, connections: 1, durationS: 1, pin: options.env.pin('load') });
  let proxyCpu = 0;
  const mineOnce = async () => {
    const before = cpuOf(target.proxy);
    const r = await oneSecond(url);
    proxyCpu += cpuOf(target.proxy) - before;
    return r;
  };
  const own: LoadResult[] = [];
  const differences: number[] = [];
  for (let pair = 0; pair < Math.max(1, Math.round(options.latencyS)); pair++) {
    let mine: LoadResult;
    let directs: LoadResult;
    if (pair % 2 === 0) {
      mine = await mineOnce();
      directs = await oneSecond(directUrl);
    } else {
      directs = await oneSecond(directUrl);
      mine = await mineOnce();
    }
    own.push(mine);
    differences.push(mine.p50Us - directs.p50Us);
  }
  const requests = own.reduce((sum, r) => sum + r.requests, 0);
  const single: LoadResult = {
    tool: options.tool,
    requests,
    rps: requests / own.length,
    p50Us: median(own.map((r) => r.p50Us)),
    p99Us: median(own.map((r) => r.p99Us)),
    failures: own.reduce((sum, r) => sum + r.failures, 0),
  };
  return { single, addedUs: median(differences), proxyUs: requests > 0 ? (proxyCpu * 1e6) / requests : Number.NaN };
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us.toFixed(0)} µs`;
}
