// `npm run bench`: the meshkit gateway beside nginx, @fastify/http-proxy, a hand-rolled floor and
// moleculer-web, all in front of the same tiny answer; then the extra scenarios of
// bench/scenarios. Writes bench/results/<date>.md and .svg and prints the table. Exit 1 when the
// harness itself broke (a contender that does not start or answer, a scenario that throws), never
// because a target was missed; 2 on a bad option.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, BenchError, parseArgs, UsageError, usage } from './lib/args.js';
import { renderChart } from './lib/chart.js';
import { type BenchEnv, type Contender, contenders as allContenders } from './lib/contenders.js';
import { findWrk, killLoadGenerators, type LoadTool } from './lib/load.js';
import { loadScenarios } from './lib/load-scenarios.js';
import { choosePinning, codeVersion, currentLoad, describeMachine } from './lib/machine.js';
import { findNginx, nginxVersion } from './lib/nginx.js';
import { answers } from './lib/ports.js';
import { ProcessSet } from './lib/processes.js';
import { runProfile } from './lib/profile.js';
import { runProxyBench } from './lib/proxy-bench.js';
import { renderReport, type ScenarioSection, summaryColumns, summaryRows, table, targetsTable } from './lib/report.js';
import type { Scenario } from './lib/scenario.js';
import { type Summary, summarise } from './lib/summary.js';

const distDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(distDir, '../..');
const ci = process.env.CI === 'true';
const startedAt = Date.now();
const log = (line: string) => console.log(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)}s] ${line}`);

const processes = new ProcessSet();
let tmpDir: string | undefined;
const removeTmp = () => {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
};
process.on('exit', () => {
  killLoadGenerators();
  processes.killAllNow();
  removeTmp();
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: the exit handler kills what is left
    interrupted = true;
    log(`${signal}: stopping every process the bench started`);
    killLoadGenerators();
    processes.stopAll(2000).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

function localDate(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function urlPort(url: string, fallback: number): number {
  return Number(new URL(url).port || fallback);
}

async function main(args: BenchArgs): Promise<number> {
  if (args.help) {
    console.log(usage);
    return 0;
  }
  const quick = args.quick;
  const params = {
    rounds: args.rounds ?? (quick ? 1 : 3),
    durationS: args.durationS ?? (quick ? 1 : 10),
    warmupS: args.warmupS ?? (quick ? 0 : 2),
    latencyS: args.latencyS ?? (quick ? 1 : 5),
    primeS: args.primeS ?? (quick ? 1 : 10),
    connections: 50,
  };
  const machine = describeMachine();
  // Read at the start: the tree may change while the bench runs (it is built once, at the start).
  const code = codeVersion(repoRoot);
  const pinning = choosePinning(args.noPin);
  const notes: string[] = [];
  let failed = false;

  const wrk = findWrk();
  let tool: LoadTool;
  let toolNote: string | undefined;
  if (args.tool === 'wrk' && !wrk) throw new UsageError('--tool wrk: wrk is not installed (apt-get install wrk)');
  if (args.tool) tool = args.tool;
  else if (wrk) tool = 'wrk';
  else {
    tool = 'autocannon';
    toolNote = 'wrk is not installed: autocannon instead (its latencies are whole milliseconds, so p50/p99 and the added latency are coarse).';
    log(toolNote);
    notes.push(toolNote);
  }

  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
  const redisUp = await answers(urlPort(redisUrl, 6379), new URL(redisUrl).hostname);
  const natsUp = await answers(urlPort(natsUrl, 4222), new URL(natsUrl).hostname);

  let loaded: { scenarios: Scenario[]; note?: string };
  let scenarioLoadError: string | undefined;
  try {
    loaded = await loadScenarios();
  } catch (err) {
    scenarioLoadError = (err as Error).stack ?? String(err);
    loaded = { scenarios: [] };
  }

  // What to run.
  let selected: Contender[] = [];
  let scenarios: Scenario[] = [];
  if (args.only.length === 0) {
    selected = [...allContenders];
    scenarios = loaded.scenarios;
  } else {
    for (const name of args.only) {
      const contender = allContenders.find((c) => c.id === name);
      const scenario = loaded.scenarios.find((s) => s.name === name);
      if (name === 'proxies') selected.push(...allContenders);
      else if (contender) selected.push(contender);
      else if (scenario) scenarios.push(scenario);
      else {
        throw new UsageError(
          `--only ${name}: not a contender or scenario. Contenders: proxies (all), ${allContenders.map((c) => c.id).join(', ')}. ` +
            `Scenarios: ${loaded.scenarios.map((s) => s.name).join(', ') || '(none loaded)'}` +
            (scenarioLoadError ? ` — bench/scenarios failed to load: ${scenarioLoadError.split('\n')[0]}` : ''),
        );
      }
    }
    if (selected.length > 0 && !selected.some((c) => c.id === 'direct')) {
      selected.unshift(allContenders.find((c) => c.id === 'direct') as Contender);
    }
    selected = allContenders.filter((c) => selected.includes(c));
  }

  // Missing backends and tools: said in the output; under CI an error.
  const missing = (what: string) => {
    const line = ci ? `${what} (an error under CI=true)` : what;
    log(line);
    notes.push(line);
    if (ci) failed = true;
  };
  selected = selected.map((c): Contender => {
    if (c.id === 'moleculer' && !natsUp) {
      missing(`moleculer-web: NATS does not answer at ${natsUrl}: not available`);
      return { ...c, unavailable: () => `NATS does not answer at ${natsUrl}` };
    }
    if (c.id === 'nginx' && !findNginx()) missing('nginx is not installed: not available (apt-get install nginx)');
    return c;
  });
  const needsRedis = selected.length > 0 || args.profile;
  if (needsRedis && !redisUp) {
    throw new BenchError(`Redis does not answer at ${redisUrl}: the meshkit backend registers there and the gateway discovers it (start redis-server, or set BENCH_REDIS_URL)`);
  }

  // `--gateway-node-options`, for the contenders, the scenarios and the report alike.
  const gatewayNodeOptions = args.gatewayNodeOptions ? { gatewayNodeOptions: args.gatewayNodeOptions } : {};
  tmpDir = mkdtempSync(join(tmpdir(), 'meshkit-bench-'));
  const env: BenchEnv = {
    processes,
    pin: pinning.pin,
    ...(pinning.pinned ? { serverCore: 1 } : {}),
    repoRoot,
    distDir,
    tmpDir,
    redisUrl,
    registryPrefix: `meshkit-bench-${process.pid}-${randomBytes(3).toString('hex')}:`,
    natsUrl,
    ...(args.balancer ? { balancer: args.balancer } : {}),
    ...gatewayNodeOptions,
  };
  const outDir = resolve(args.out ?? join(repoRoot, 'bench/results'));
  mkdirSync(outDir, { recursive: true });
  const date = localDate();
  log(`${quick ? 'quick' : 'full'} run; ${pinning.description}; load: ${tool}; results to ${outDir}`);

  if (args.profile) {
    const report = await runProfile({
      env,
      durationS: args.durationS ?? (quick ? 2 : 15),
      warmupS: args.warmupS ?? (quick ? 1 : 3),
      connections: params.connections,
      tool,
      log,
      date,
      outDir,
      pinning: pinning.description,
      code,
      ...(args.only[0] ? { contenderId: args.only[0] } : {}),
    });
    await processes.stopAll();
    log(`profile: ${report.markdownFile} (raw profile: ${report.profileFile})`);
    console.log(`\n${report.top}`);
    return 0;
  }

  let summary: Summary | undefined;
  if (selected.length > 0) {
    const result = await runProxyBench({
      env,
      contenders: selected,
      rounds: params.rounds,
      durationS: params.durationS,
      warmupS: params.warmupS,
      latencyS: params.latencyS,
      primeS: params.primeS,
      connections: params.connections,
      tool,
      log,
    });
    log('stopping the servers');
    await processes.stopAll();
    summary = summarise(result);
    for (const o of result.outcomes) if (o.status === 'failed') failed = true;
    const unjudged = result.outcomes.filter((o) => o.status !== 'ok').map((o) => o.contender.label);
    if (unjudged.length > 0) notes.push(`Not measured: ${unjudged.join(', ')}.`);
  }

  const sections: ScenarioSection[] = [];
  if (scenarioLoadError) {
    failed = true;
    sections.push({ name: 'bench/scenarios', error: scenarioLoadError });
    log(`bench/scenarios failed to load:\n${scenarioLoadError}`);
  }
  const scenarioOptions = {
    quick,
    pin: pinning.pin,
    ...gatewayNodeOptions,
  };
  for (const scenario of scenarios) {
    log(`scenario ${scenario.name}`);
    try {
      sections.push({ name: scenario.name, result: await scenario.run(scenarioOptions) });
    } catch (err) {
      failed = true;
      const message = (err as Error).stack ?? String(err);
      sections.push({ name: scenario.name, error: message });
      log(`scenario ${scenario.name} failed: ${message}`);
    }
    // A scenario must clean up after itself; the harness still stops anything it started through us.
    await processes.stopAll();
  }
  if (loaded.note && args.only.length === 0) log(loaded.note);

  if (!quick) {
    notes.push(
      'This is a shared 2-core VM: other sessions run tests on it at the same time, so single rounds can be off by tens of percent; ' +
        'the interleaved rounds and medians are there to damp that, and the per-round table shows the spread.',
    );
  }
  // A partial run (--only) never overwrites the day's full results.
  const base = args.only.length === 0 ? date : `${date}-only-${args.only.join('+').replace(/[^A-Za-z0-9+_-]/g, '_')}`;
  const chartFile = summary ? `${base}.svg` : undefined;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const markdown = renderReport({
    date,
    quick,
    command,
    machine,
    code,
    loadAtEnd: currentLoad(),
    pinning: pinning.description,
    tool: tool === 'wrk' ? 'wrk 4.1 (Debian)' : 'autocannon 8',
    ...(toolNote ? { toolNote } : {}),
    ...(findNginx() ? { nginx: nginxVersion(findNginx() as string) } : {}),
    params,
    balancer: args.balancer ?? 'its default (round_robin)',
    ...gatewayNodeOptions,
    ...(summary ? { summary } : {}),
    ...(chartFile ? { chartFile } : {}),
    scenarios: sections,
    ...(loaded.note ? { scenariosNote: loaded.note } : {}),
    notes,
    elapsedS: (Date.now() - startedAt) / 1000,
  });
  const mdFile = join(outDir, `${base}.md`);
  writeFileSync(mdFile, markdown);
  if (summary && chartFile) {
    writeFileSync(join(outDir, chartFile), renderChart(summary.rows, `meshkit bench ${date}${quick ? ' (quick)' : ''}`));
  }

  // The table on the terminal too.
  if (summary) {
    const withBroker = summary.rows.some((r) => Number.isFinite(r.brokerUs));
    console.log(`\n${table(summaryColumns(withBroker), summaryRows(summary.rows, withBroker))}\n`);
    if (summary.targets.length > 0) console.log(`${targetsTable(summary.targets)}\n`);
    for (const u of summary.unjudged) console.log(`not judged: ${u}`);
  }
  for (const s of sections) {
    if (s.result) {
      console.log(`\n${s.result.title}\n\n${table(s.result.columns, s.result.rows)}\n`);
      if (s.result.targets.length > 0) console.log(`${targetsTable(s.result.targets)}\n`);
    } else console.log(`\nscenario ${s.name} FAILED`);
  }
  const shown = relative(process.cwd(), mdFile) || mdFile;
  log(`wrote ${shown}${chartFile ? ` and ${chartFile}` : ''}${failed ? ' — the harness had failures (see above): exit 1' : ''}`);
  return failed ? 1 : 0;
}

let code: number;
try {
  code = await main(parseArgs(process.argv.slice(2)));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`bench: ${err.message}\n\n${usage}`);
    code = 2;
  } else if (err instanceof BenchError) {
    console.error(`bench: ${err.message}`);
    code = 1;
  } else {
    console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    code = 1;
  }
}
await processes.stopAll(2000);
removeTmp();
process.exit(code);
