import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { failed, type Sample } from './load.js';

/** Where the suite writes `chaos.md` (gitignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../artifacts/', import.meta.url));
/** Each scenario appends its row here; the global teardown turns the rows into `chaos.md`. */
export const RESULTS_FILE = `${ARTIFACTS_DIR}chaos-results.jsonl`;
export const REPORT_FILE = `${ARTIFACTS_DIR}chaos.md`;

/** What the client saw over one run of load. */
export interface LoadSummary {
  requests: number;
  failed: number;
  failedPct: number;
  /** Failures among the requests sent 2 s or more after the fault (undefined: no fault time). */
  failedAfter2s: number | undefined;
  p50: number;
  p99: number;
  max: number;
  /** Answers by status (0: no answer). */
  byStatus: Record<number, number>;
}

/** One row of the report. */
export interface Figures {
  /** `1`…`9`, `6a`/`6b` for the two balancers. */
  id: string;
  scenario: string;
  target: string;
  load: LoadSummary;
  /** ms from the fault until the registration left the gateway's view. */
  goneMs?: number;
  /** ms from the fault (or the end of it) until the service was whole again. */
  recoveryMs?: number;
  /** The scenario's own figure in words (e.g. a traffic share). */
  measured: string;
  met: boolean;
  /** The checks that failed, in words. */
  misses: string[];
}

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export function summarize(samples: readonly Sample[], faultAt?: number): LoadSummary {
  const latencies = samples.map((s) => s.latencyMs);
  const bad = samples.filter(failed);
  const byStatus: Record<number, number> = {};
  for (const s of samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  return {
    requests: samples.length,
    failed: bad.length,
    failedPct: samples.length === 0 ? 0 : (100 * bad.length) / samples.length,
    failedAfter2s: faultAt === undefined ? undefined : bad.filter((s) => s.at >= faultAt + 2000).length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.length === 0 ? 0 : Math.max(...latencies),
    byStatus,
  };
}

/** A few of these samples, for an assertion message. */
export function describeSamples(samples: readonly Sample[], limit = 5): string {
  const shown = samples
    .slice(0, limit)
    .map((s) => `${s.kind} @${Math.round(s.at)}ms ${s.status || s.error} ${Math.round(s.latencyMs)}ms ${s.body ?? ''}`);
  return `${samples.length}${samples.length > limit ? ` (first ${limit})` : ''}: ${shown.join(' | ')}`;
}

/** A few of the failed samples, for an assertion message. */
export function describeFailures(samples: readonly Sample[], limit = 5): string {
  return `failed ${describeSamples(samples.filter(failed), limit)}`;
}

/**
 * Appends a row for the global teardown and prints it at once (a failing run still shows its
 * figures); with samples, dumps them too.
 */
export function record(figures: Figures, samples?: readonly Sample[], marks: Record<string, number | undefined> = {}): void {
  if (samples) dumpSamples(figures.id, samples, marks);
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify(figures)}\n`);
  console.log(`chaos ${figures.id} ${figures.scenario}: ${figures.met ? 'met' : 'MISSED'} | ${row(figures)}`);
}

/** Every sample of a scenario, for a closer look (`test/artifacts/chaos-samples-<id>.json`). */
export function dumpSamples(id: string, samples: readonly Sample[], marks: Record<string, number | undefined> = {}): void {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  writeFileSync(`${ARTIFACTS_DIR}chaos-samples-${id}.json`, JSON.stringify({ marks, samples }));
}

export function readResults(): Figures[] {
  if (!existsSync(RESULTS_FILE)) return [];
  return readFileSync(RESULTS_FILE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Figures)
    .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

/** Forgets an earlier run: its rows and its sample dumps. */
export function clearResults(): void {
  rmSync(RESULTS_FILE, { force: true });
  if (!existsSync(ARTIFACTS_DIR)) return;
  for (const entry of readdirSync(ARTIFACTS_DIR)) {
    if (entry.startsWith('chaos-samples-')) rmSync(`${ARTIFACTS_DIR}${entry}`, { force: true });
  }
}

const ms = (v: number | undefined) => (v === undefined ? '–' : `${Math.round(v)} ms`);
const lat = (v: number) => (v < 10 ? v.toFixed(1) : String(Math.round(v)));

const HEADER =
  '| # | scenario | target | met | requests | failed | failed % | failed after 2 s | p50 ms | p99 ms | registration gone | recovery | measured |';

function row(f: Figures): string {
  const l = f.load;
  return [
    f.id,
    f.scenario,
    f.target,
    f.met ? 'yes' : `**no**: ${f.misses.map((m) => (m.length > 200 ? `${m.slice(0, 200)}…` : m)).join('; ')}`,
    l.requests,
    l.failed,
    `${l.failedPct.toFixed(3)} %`,
    l.failedAfter2s ?? '–',
    lat(l.p50),
    lat(l.p99),
    ms(f.goneMs),
    ms(f.recoveryMs),
    f.measured,
  ]
    .map((c) => String(c).replaceAll('|', '/'))
    .join(' | ');
}

/** The report as markdown: one table row per scenario. */
export function renderReport(rows: readonly Figures[], context: string): string {
  const lines = [
    '# meshkit chaos run',
    '',
    context,
    '',
    HEADER,
    `|${HEADER.split('|').slice(1, -1).map(() => '---').join('|')}|`,
    ...rows.map((f) => `| ${row(f)} |`),
    '',
    'Failed: a 5xx answer or none (network error, client timeout); 4xx answers are answers. ',
    '"failed after 2 s": failures among requests sent 2 s or more after the fault. Latencies are the',
    "client's, through the gateway, over every request of the scenario.",
    '',
  ];
  return lines.join('\n');
}

export function writeReport(text: string): void {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  writeFileSync(REPORT_FILE, text);
}

/** A duration for the report, `never` when it did not happen. */
export function fmt(ms: number | undefined, digits = 0): string {
  return ms === undefined ? 'never' : `${ms.toFixed(digits)} ms`;
}

/** Answers by status: `200×812 503×4 none×1`. */
export function statusList(samples: readonly Sample[]): string {
  const counts = new Map<number, number>();
  for (const x of samples) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a - b).map(([status, n]) => `${status || 'none'}×${n}`).join(' ');
}

/** When the failed requests were sent, relative to the fault. */
export function failureWindow(samples: readonly Sample[], faultAt: number, fault = 'the fault'): string {
  const bad = samples.filter(failed);
  if (bad.length === 0) return 'none';
  const first = Math.min(...bad.map((x) => x.at)) - faultAt;
  const last = Math.max(...bad.map((x) => x.at)) - faultAt;
  return `sent ${Math.round(first)}…${Math.round(last)} ms after ${fault}`;
}
