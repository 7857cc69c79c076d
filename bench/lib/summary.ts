import type { ContenderOutcome, Measurement, ProxyBenchResult } from './proxy-bench.js';
import type { ScenarioTarget } from './scenario.js';
import { median, spread } from './stats.js';

/** One contender's medians over the rounds. */
export interface SummaryRow {
  outcome: ContenderOutcome;
  rounds: number;
  rps: number;
  /** req/s over direct's req/s in the same round, median over rounds. */
  rpsRatio: number;
  p50Us: number;
  p99Us: number;
  proxyUs: number;
  backendUs: number;
  brokerUs: number;
  /** 1-connection p50 minus direct's (in runs paired with direct's), median over rounds. */
  addedLatencyUs: number;
  singleP50Us: number;
  /** The proxy's CPU per request at 1 connection, median over rounds. */
  singleProxyUs: number;
  failures: number;
  rpsSpread: number;
}

export interface Summary {
  rows: SummaryRow[];
  targets: ScenarioTarget[];
  /** Targets that could not be judged (a contender missing), and why. */
  unjudged: string[];
}

const byRound = (ms: Measurement[]) => new Map(ms.map((m) => [m.round, m]));

export function summarise(result: ProxyBenchResult): Summary {
  const direct = result.outcomes.find((o) => o.contender.id === 'direct');
  const directByRound = byRound(direct?.measurements ?? []);
  const rows = result.outcomes.map((outcome): SummaryRow => {
    const ms = outcome.measurements;
    const sameRound = (f: (m: Measurement, d: Measurement) => number) =>
      median(ms.map((m) => (directByRound.has(m.round) ? f(m, directByRound.get(m.round) as Measurement) : Number.NaN)));
    return {
      outcome,
      rounds: ms.length,
      rps: median(ms.map((m) => m.load.rps)),
      rpsRatio: sameRound((m, d) => m.load.rps / d.load.rps),
      p50Us: median(ms.map((m) => m.load.p50Us)),
      p99Us: median(ms.map((m) => m.load.p99Us)),
      proxyUs: median(ms.map((m) => m.proxyUs)),
      backendUs: median(ms.map((m) => m.backendUs)),
      brokerUs: median(ms.map((m) => m.brokerUs ?? Number.NaN)),
      addedLatencyUs: sameRound((m, d) => m.addedUs ?? m.single.p50Us - d.single.p50Us),
      singleP50Us: median(ms.map((m) => m.single.p50Us)),
      singleProxyUs: median(ms.map((m) => m.singleProxyUs ?? Number.NaN)),
      failures: ms.reduce((sum, m) => sum + m.load.failures + m.single.failures, 0),
      rpsSpread: spread(ms.map((m) => m.load.rps)),
    };
  });

  const targets: ScenarioTarget[] = [];
  const unjudged: string[] = [];
  const find = (id: string) => result.outcomes.find((o) => o.contender.id === id && o.measurements.length > 0);
  const meshkit = find('meshkit');
  const cpuRatio = (name: string, otherId: string, limit: number, note = '') => {
    const other = find(otherId);
    if (!meshkit || !other) {
      unjudged.push(`${name}: ${!meshkit ? 'the meshkit gateway' : otherId} was not measured`);
      return;
    }
    const others = byRound(other.measurements);
    const ratio = median(
      meshkit.measurements.map((m) => {
        const o = others.get(m.round);
        return o ? m.proxyUs / o.proxyUs : Number.NaN;
      }),
    );
    targets.push({ name: name + note, value: `${ratio.toFixed(2)} ×`, limit: `≤ ${limit} ×`, met: ratio <= limit });
  };
  cpuRatio('gateway CPU per request / floor (Fastify + undici Pool)', 'floor', 0.9);
  cpuRatio('gateway CPU per request / @fastify/http-proxy', 'fastify-http-proxy', 0.7);
  cpuRatio('gateway CPU per request / nginx', 'nginx', 3, ' (moonshot)');
  const meshkitRow = rows.find((r) => r.outcome.contender.id === 'meshkit');
  if (meshkit && direct?.measurements.length && meshkitRow) {
    const added = meshkitRow.addedLatencyUs;
    // An absolute figure that follows the machine's speed: shown beside direct's own and nginx's.
    const directRow = rows.find((r) => r.outcome.contender.id === 'direct');
    const nginxRow = rows.find((r) => r.outcome.contender.id === 'nginx' && r.rounds > 0);
    const context = [
      directRow ? `direct's own 1-connection p50 ${directRow.singleP50Us.toFixed(0)} µs` : '',
      nginxRow ? `nginx adds ${nginxRow.addedLatencyUs.toFixed(0)} µs` : '',
    ].filter(Boolean);
    targets.push({
      name: 'added latency at 1 connection, p50 over direct',
      value: `${added.toFixed(0)} µs${context.length > 0 ? ` (${context.join('; ')})` : ''}`,
      limit: '≤ 70 µs',
      met: added <= 70,
    });
    const nodePeers = rows.filter(
      (r) => ['floor', 'fastify-http-proxy', 'moleculer'].includes(r.outcome.contender.id) && r.rounds > 0,
    );
    if (nodePeers.length > 0) {
      const cheapest = nodePeers.reduce((a, b) => (a.proxyUs <= b.proxyUs ? a : b));
      targets.push({
        name: 'the cheapest Node proxy measured (CPU per request)',
        value: `${meshkitRow.proxyUs.toFixed(1)} µs vs ${cheapest.proxyUs.toFixed(1)} µs (${cheapest.outcome.contender.label})`,
        limit: 'below every Node peer',
        met: meshkitRow.proxyUs < cheapest.proxyUs,
      });
    }
  } else {
    unjudged.push('added latency at 1 connection: the meshkit gateway or direct was not measured');
  }
  return { rows, targets, unjudged };
}
