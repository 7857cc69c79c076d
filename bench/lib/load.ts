import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadOptions {
  tool: LoadTool;
  url: string;
  connections: number;
  /** Whole seconds (wrk's -d takes no fractions). */
  durationS: number;
  /** Command prefix that pins the load generator (`taskset -c 0`), or []. */
  pin: string[];
}

export interface LoadResult {
  tool: LoadTool;
  /** Responses completed in the run. */
  requests: number;
  rps: number;
  p50Us: number;
  p99Us: number;
  /** Responses with a status outside 2xx/3xx, plus connect/read/write errors and timeouts. */
  failures: number;
}

/** Where wrk is, if anywhere (Debian's package puts it in /usr/bin). */
export function findWrk(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(`${dir}/wrk`)) return `${dir}/wrk`;
  }
  return undefined;
}

const require = createRequire(import.meta.url);

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const connections = String(options.connections);
  const duration = String(Math.max(1, Math.round(options.durationS)));
  if (options.tool === 'wrk') {
    const out = await run([
      ...options.pin,
      'wrk',
      '-c',
      connections,
      '-t',
      '1',
      '-d',
      `${duration}s`,
      '--latency',
      options.url,
    ]);
    return parseWrk(out);
  }
  const cli = require.resolve('autocannon/autocannon.js');
  const out = await run([...options.pin, process.execPath, cli, '-c', connections, '-d', duration, '-j', options.url]);
  return parseAutocannon(out);
}

/** Load generators running now, so that a Ctrl-C of the harness stops them too. */
const running = new Set<ChildProcess>();

export function killLoadGenerators(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function run(argv: string[]): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = execFile(file as string, args, { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 }, (err, stdout, stderr) => {
      running.delete(child);
      if (err) reject(new Error(`${argv.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    running.add(child);
  });
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000 };

/** wrk's `1.23ms`, `850.00us`, `1.02s` in µs. */
export function wrkDurationUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk duration: "${text}"`);
  return Number(m[1]) * (UNIT_US[m[2] as string] as number);
}

/** Reads wrk's `--latency` report: requests, Requests/sec, the 50 % and 99 % lines, errors. */
export function parseWrk(out: string): LoadResult {
  const requests = /^\s*(\d+) requests in /m.exec(out);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const p50 = /^\s*50(?:\.0+)?%\s+(\S+)/m.exec(out);
  const p99 = /^\s*99(?:\.0+)?%\s+(\S+)/m.exec(out);
  if (!requests || !rps || !p50 || !p99) throw new Error(`could not read wrk's report:\n${out}`);
  let failures = 0;
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (non2xx) failures += Number(non2xx[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (socket) failures += socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const completed = Number(requests[1]);
  return {
    tool: 'wrk',
    requests: completed,
    rps: Number(rps[1]),
    // With nothing completed wrk prints 0.00us: no latency was measured, not a zero one.
    p50Us: completed === 0 ? Number.NaN : wrkDurationUs(p50[1] as string),
    p99Us: completed === 0 ? Number.NaN : wrkDurationUs(p99[1] as string),
    failures,
  };
}

/** Reads autocannon's `-j` JSON (latencies in whole ms: coarser than wrk's µs). */
export function parseAutocannon(out: string): LoadResult {
  const r = JSON.parse(out) as {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    '3xx': number;
    latency: { p50: number; p99: number };
    requests: { total: number };
  };
  const ok = r['2xx'] + r['3xx'];
  const completed = ok + r.non2xx;
  return {
    tool: 'autocannon',
    requests: completed,
    rps: completed / r.duration,
    // Whole milliseconds: a 0 is "below 1 ms", not a measurement.
    p50Us: completed === 0 || r.latency.p50 === 0 ? Number.NaN : r.latency.p50 * 1000,
    p99Us: completed === 0 || r.latency.p99 === 0 ? Number.NaN : r.latency.p99 * 1000,
    failures: r.non2xx + r.errors + r.timeouts,
  };
}
