import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchEnv, contenders, cpuOf, startBackend } from './contenders.js';
import { type CpuProfile, type ProfileSummary, summariseProfile } from './cpuprofile.js';
import { type LoadTool, runLoad } from './load.js';
import { fmtUs } from './proxy-bench.js';
import { BENCH_PATH } from './product.js';
import { table } from './report.js';

export interface ProfileOptions {
  env: BenchEnv;
  durationS: number;
  warmupS: number;
  connections: number;
  tool: LoadTool;
  log: (line: string) => void;
  date: string;
  outDir: string;
  pinning: string;
  /** Which meshkit contender: `meshkit` (default) or `meshkit-quiet`. */
  contenderId?: string;
  /** Which code was profiled (`codeVersion`). */
  code: string;
}

export interface ProfileReport {
  markdownFile: string;
  profileFile: string;
  /** The top-functions table, for the terminal. */
  top: string;
  summary: ProfileSummary;
}

/**
 * The meshkit gateway, started as in the comparison but under `node --cpu-prof`, loaded at
 * `connections` for `durationS` after a warm-up, then stopped with SIGTERM so that V8 writes
 * the profile; the profile's top self-time functions go to `<date>-profile.md`.
 */
export async function runProfile(options: ProfileOptions): Promise<ProfileReport> {
  const { env, log } = options;
  // Kept after the run (the bench's own temp dir is removed): open it in Chrome DevTools.
  const profileDir = mkdtempSync(join(tmpdir(), 'meshkit-gateway-profile-'));
  env.gatewayNodeFlags = ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const id = options.contenderId ?? 'meshkit';
  const meshkit = contenders.find((c) => c.id === id);
  if (!meshkit || !id.startsWith('meshkit')) throw new Error(`--profile profiles a meshkit gateway, not "${id}"`);
  log(`starting the meshkit backend and ${meshkit.label} under --cpu-prof`);
  // The gateway alone on the server core: V8 samples wall time, so a backend on the same core,
  // woken by the gateway's write and running at once, would be charged to that write.
  const backend = await startBackend(env, 'load');
  const gateway = await meshkit.start(env, backend);
  const url = `${gateway.url}${BENCH_PATH}`;
  const load = (durationS: number) =>
    runLoad({ tool: options.tool, url, connections: options.connections, durationS, pin: env.pin('load') });
  if (options.warmupS > 0) await load(options.warmupS);
  const before = cpuOf(gateway.proxy);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const result = await load(options.durationS);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu = cpuOf(gateway.proxy) - before;
  const usPerRequest = (cpu * 1e6) / result.requests;
  log(`under the profiler: ${result.rps.toFixed(0)} req/s, ${usPerRequest.toFixed(1)} µs/req in the gateway`);
  for (const p of gateway.proxy) await env.processes.stop(p, 15_000);

  const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${profileDir}, found ${files.length}`);
  const profileFile = join(profileDir, files[0] as string);
  // Only the measured load: V8's profile clock and process.hrtime are both CLOCK_MONOTONIC.
  const summary = summariseProfile(JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile, env.repoRoot, {
    fromUs,
    toUs,
  });

  const top = topTable(summary, 15);
  const own = summary.functions
    .filter((f) => f.area.startsWith('meshkit'))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 20);
  const md = [
    `# ${meshkit.label}: CPU profile, ${options.date}`,
    '',
    `\`npm run bench -- --profile\`: \`node --cpu-prof\` on \`meshkit run gateway\` (every feature on, access log at info to /dev/null), ` +
      `${options.connections} connections of ${options.tool} for ${options.durationS} s after ${options.warmupS} s of warm-up, GET ${BENCH_PATH}. ` +
      `Pinning as in the comparison, except the backend: on the load generator's core, so that the gateway has its core to ` +
      `itself (V8's profiler samples wall time: a backend on the same core, woken by the gateway's socket write and run at once, ` +
      `would be charged to that write). Code: ${options.code}.`,
    '',
    `Under the profiler: ${result.rps.toFixed(0)} req/s, p50 ${fmtUs(result.p50Us)}, p99 ${fmtUs(result.p99Us)}, ` +
      `${usPerRequest.toFixed(1)} µs of gateway CPU per request (the profiler itself adds some). ` +
      `Profile: the ${summary.samples} samples taken during the measured load (start-up and warm-up left out), over ${(summary.durationMs / 1000).toFixed(1)} s, ` +
      `busy ${(summary.busyMs / 1000).toFixed(2)} s, idle ${(summary.idleMs / 1000).toFixed(2)} s; percentages are of the busy time. ` +
      `Raw profile: \`${profileFile}\`.`,
    '',
    '## Top 15 functions by self time',
    '',
    top,
    '',
    '## Self time by area',
    '',
    table(
      ['area', 'self ms', '% busy'],
      summary.areas.slice(0, 25).map((a) => [a.area, a.selfMs.toFixed(0), a.selfPercent.toFixed(1)]),
    ),
    '',
    "## meshkit's own functions by total time (self + what they call)",
    '',
    table(
      ['function', 'where', 'total %', 'self %'],
      own.map((f) => [f.functionName, f.location, f.totalPercent.toFixed(1), f.selfPercent.toFixed(2)]),
    ),
    '',
  ].join('\n');
  const markdownFile = join(options.outDir, `${options.date}-profile${id === 'meshkit' ? '' : `-${id}`}.md`);
  writeFileSync(markdownFile, md);
  return { markdownFile, profileFile, top, summary };
}

export function topTable(summary: ProfileSummary, n: number): string {
  return table(
    ['#', 'function', 'where', 'area', 'self ms', 'self %', 'total %'],
    summary.functions
      .slice(0, n)
      .map((f, i) => [
        i + 1,
        f.functionName,
        f.location || '—',
        f.area,
        f.selfMs.toFixed(0),
        f.selfPercent.toFixed(1),
        f.totalPercent.toFixed(1),
      ]),
  );
}
