import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { eventually } from '../support/processes.js';
import { instancesOf, PRODUCT_SERVICE, pidOf, registryAt } from './cluster.js';
import { chaosBackendsUp, type ChaosEnv, sleep, startChaosEnv, timeUntil } from './harness.js';
import type { Sample } from './load.js';
import { describeFailures, fmt, record, statusList, summarize } from './report.js';
import { Verdict } from './verdict.js';

/**
 * Products instances that live but misbehave, under the steady load: one 10× slower than the
 * others, one answering 500 half the time. Each is a 4th products instance the suite starts
 * itself (`meshkit run products` with `SERVICE_FAULTS`) beside the cluster's three.
 */
describe.runIf(await chaosBackendsUp())('chaos: a products instance misbehaves', () => {
  let chaos: ChaosEnv;

  beforeAll(async () => {
    chaos = await startChaosEnv('degraded');
  });

  afterEach(async () => {
    await chaos?.stopLoads();
  });

  afterAll(async () => {
    await chaos?.close();
  });

  /** Until the gateway at `url` lists `n` products instances. */
  async function listed(url: string, n: number): Promise<void> {
    await eventually(async () => instancesOf(await registryAt(url), PRODUCT_SERVICE).length === n, 15_000);
  }

  /** The share of the requests `pid` answered, from the products instances' request logs. */
  function shareOf(samples: readonly Sample[], pid: number) {
    const by = samples.map((x) => chaos.answers.answeredBy(x.id)).filter((p) => p !== undefined);
    const mine = by.filter((p) => p === pid).length;
    return { share: by.length === 0 ? 0 : mine / by.length, attributed: by.length, mine };
  }

  it('6: one products instance 10× slower: p2c_ewma against round_robin', async () => {
    await chaos.steady();
    // The normal latency through the gateway (GETs only); the slow instance adds 10 times that.
    const base = chaos.startLoad('s6base', { orderShare: 0 });
    await sleep(3000);
    const baseline = summarize(await base.stop());
    const delayMs = Math.max(20, Math.ceil(10 * baseline.p50));

    const slow = await chaos.runPart('products', {
      SERVICE_FAULTS: JSON.stringify([{ prefix: '/products', delay: { ms: delayMs, percent: 100 } }]),
    });
    try {
      await listed(chaos.cluster.url, 4);
      // A second gateway, started now, with every instance already there: p2c_ewma has to learn
      // their latencies from nothing (each starts at the default estimate).
      const p2c = await chaos.runPart('gateway', { BALANCER_PRODUCT_SERVICE: 'p2c_ewma' });
      await listed(p2c.url, 4);
      const runs = [
        { id: '6b', balancer: 'p2c_ewma', url: p2c.url },
        { id: '6a', balancer: 'round_robin', url: chaos.cluster.url },
      ];
      const results = [];
      for (const run of runs) {
        const load = chaos.startLoad(`s${run.id}`, { url: run.url, orderShare: 0 });
        await sleep(8000);
        const samples = await load.stop();
        await sleep(300); // the last request logs arrive
        results.push({ ...run, samples, ...shareOf(samples, slow.proc.pid) });
      }
      await p2c.proc.stop();

      const verdicts: Verdict[] = [];
      for (const r of results) {
        const tagged = r.samples.filter((x) => x.fault?.includes('delay')).length;
        const v = new Verdict();
        v.check('we know who answered', r.attributed >= r.samples.length * 0.99, `${r.attributed} of ${r.samples.length}`);
        if (r.balancer === 'p2c_ewma') v.check('the slow instance gets ≤ 15 %', r.share <= 0.15, `${(100 * r.share).toFixed(1)} %`);
        record(
          {
            id: r.id,
            scenario: `one instance 10× slower, ${r.balancer}`,
            target: r.balancer === 'p2c_ewma' ? 'the slow instance gets ≤ 15 % of the traffic' : '(reference for 6b)',
            load: summarize(r.samples),
            measured: `the slow instance (+${delayMs} ms; normal p50 ${fmt(baseline.p50, 1)}) answered ${(100 * r.share).toFixed(1)} % (${r.mine} of ${r.attributed}; ${tagged} answers carried x-meshkit-fault: delay)`,
            met: v.met,
            misses: v.misses,
          },
          r.samples,
        );
        verdicts.push(v);
      }
      for (const v of verdicts) v.assert();
    } finally {
      await slow.proc.stop();
    }
  });

  it('7: one products instance answering 500 half the time', async () => {
    await chaos.steady();
    const faulty = await chaos.runPart('products', {
      SERVICE_FAULTS: JSON.stringify([{ prefix: '/products', abort: { status: 500, percent: 50 } }]),
    });
    try {
      await listed(chaos.cluster.url, 4);
      const load = chaos.startLoad('s7');
      const faultAt = load.now(); // faulty from the first request on
      // Open: its breaker in the gateway opened, or outlier detection ejected it.
      const open = async () =>
        (await chaos.cluster.products()).some((i) => pidOf(i) === faulty.proc.pid && (i.circuit !== 'closed' || i.ejected));
      // 5 failures in a row at 50 %: 62 requests to it on average, very rarely more than 500 (20 s).
      const openMs = await timeUntil(load, faultAt, open, 20_000, 20);
      const openedAt = openMs === undefined ? Infinity : faultAt + openMs;
      await sleep(Math.max(5000, 10_000 - load.now()));
      const samples = await load.stop();
      await sleep(300); // the last request logs arrive
      const state = (await chaos.cluster.products()).find((i) => pidOf(i) === faulty.proc.pid);

      const fromIt = (x: Sample) => chaos.answers.of(x.id).some((a) => a.pid === faulty.proc.pid && a.status === 500);
      const before = samples.filter((x) => x.at < openedAt);
      const after = samples.filter((x) => x.at >= openedAt);
      const v = new Verdict();
      v.check('its breaker opens or it is ejected', openMs !== undefined);
      v.check('no 500 from it once open', !after.some(fromIt), describeFailures(after.filter(fromIt)));
      v.check('no 500 at all once open', !after.some((x) => x.status === 500), describeFailures(after.filter((x) => x.status === 500)));
      record(
        {
          id: '7',
          scenario: 'one instance 500 half the time',
          target: 'its breaker opens (or it is ejected); no 500 from it once open',
          load: summarize(samples), // faulty from the start: no "after 2 s"
          recoveryMs: openMs,
          measured: `open after ${fmt(openMs)} (circuit ${state?.circuit ?? 'gone'}, ejected ${state?.ejected ?? '?'}); before: ${before.filter(fromIt).length} × 500 from it, statuses ${statusList(before)}; after: ${statusList(after)}`,
          met: v.met,
          misses: v.misses,
        },
        samples,
        { faultAt, openedAt: openMs === undefined ? undefined : openedAt },
      );
      v.assert();
    } finally {
      await faulty.proc.stop();
    }
  });
});
