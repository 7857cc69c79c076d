import { setTimeout as sleep } from 'node:timers/promises';
import { type Clock, parseMetricSamples, systemClock } from '@meshkit/toolkit/core';
import { Agent, type Dispatcher, request } from 'undici';

export interface RegistryView {
  services: {
    name: string;
    instances: {
      id: string;
      host: string;
      port: number;
      version: string;
      weight: number;
      status: string;
      circuit: string;
      in_flight: number;
      ejected?: boolean;
      meta: Record<string, string>;
    }[];
  }[];
}

/** The gateway's `/registry`. */
export async function fetchRegistry(baseUrl: string, dispatcher?: Dispatcher): Promise<RegistryView> {
  const res = await request(new URL('/registry', baseUrl), dispatcher ? { dispatcher } : {});
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`GET /registry answered ${res.statusCode}`);
  }
  return (await res.body.json()) as RegistryView;
}

/** The gateway's `/registry` as a table. */
export async function fetchStatus(baseUrl: string): Promise<string> {
  return formatStatus(await fetchRegistry(baseUrl));
}

/** Attempts the gateway sent to each instance so far (by instance id), from its `/metrics`. */
export async function fetchUpstreamAttempts(baseUrl: string, dispatcher?: Dispatcher): Promise<Map<string, number>> {
  const res = await request(new URL('/metrics', baseUrl), dispatcher ? { dispatcher } : {});
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`GET /metrics answered ${res.statusCode}`);
  }
  return upstreamAttempts(await res.body.text());
}

/** `meshkit_upstream_requests_total` summed over status classes, per instance id. */
export function upstreamAttempts(metricsText: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of parseMetricSamples(metricsText)) {
    const instance = s.labels.instance;
    if (s.name !== 'meshkit_upstream_requests_total' || instance === undefined) continue;
    counts.set(instance, (counts.get(instance) ?? 0) + s.value);
  }
  return counts;
}

/**
 * Requests per second per instance between two counts `seconds` apart. An instance absent
 * before counts from 0 (its first attempts); a counter that went down (a restarted gateway) from
 * its new value.
 */
export function requestRates(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  seconds: number,
): Map<string, number> {
  const rates = new Map<string, number>();
  if (!(seconds > 0)) return rates;
  for (const [instance, now] of after) {
    const then = before.get(instance) ?? 0;
    rates.set(instance, (now >= then ? now - then : now) / seconds);
  }
  return rates;
}

/** The table; with `rates` (from `--watch`), a REQ/S column (`-` until two scrapes exist). */
export function formatStatus(view: RegistryView, rates?: ReadonlyMap<string, number>): string {
  const header = ['SERVICE', 'INSTANCE', 'ADDRESS', 'VERSION', 'WEIGHT', 'STATUS', 'CIRCUIT', 'IN-FLIGHT', 'PID'];
  if (rates) header.splice(8, 0, 'REQ/S');
  const rate = (id: string) => {
    const r = rates?.get(id);
    return r === undefined ? '-' : r.toFixed(1);
  };
  const rows = view.services.flatMap((s) =>
    s.instances.map((i) => [
      s.name,
      i.id.slice(0, 8),
      `${i.host}:${i.port}`,
      i.version,
      String(i.weight),
      i.status,
      i.ejected ? `${i.circuit}, ejected` : i.circuit,
      String(i.in_flight),
      ...(rates ? [rate(i.id)] : []),
      i.meta.pid ?? '',
    ]),
  );
  if (rows.length === 0) return 'no instances registered';
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()).join('\n');
}

export interface WatchOptions {
  /** Between refreshes, ms. */
  intervalMs: number;
  /** Stops the watch (Ctrl-C). */
  signal: AbortSignal;
  /** Where frames go (stdout). */
  write: (text: string) => void;
  /** Redraw in place (a terminal); otherwise frames follow each other. */
  inPlace: boolean;
  clock?: Clock;
}

/** Cursor home; erase to the end of a line; erase below. */
const HOME = '\x1b[H';
const ERASE_LINE = '\x1b[K';
const ERASE_BELOW = '\x1b[J';

/**
 * `meshkit status --watch`: the table every `intervalMs` until `signal` aborts, with requests per
 * second per instance from two successive `/metrics` scrapes of the gateway. A gateway that does
 * not answer is shown as such, and asked again next time.
 */
export async function watchStatus(baseUrl: string, options: WatchOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  // Its own connections, closed at the end: kept-alive ones would hold the process after Ctrl-C.
  const agent = new Agent();
  try {
    await watchLoop(baseUrl, options, clock, agent);
  } finally {
    await agent.close();
  }
}

async function watchLoop(baseUrl: string, options: WatchOptions, clock: Clock, agent: Agent): Promise<void> {
  let previous: { at: number; counts: Map<string, number> } | undefined;
  while (!options.signal.aborted) {
    let body: string;
    try {
      const [view, counts] = await Promise.all([fetchRegistry(baseUrl, agent), fetchUpstreamAttempts(baseUrl, agent)]);
      const at = clock.now();
      const rates = previous ? requestRates(previous.counts, counts, (at - previous.at) / 1000) : new Map();
      previous = { at, counts };
      body = formatStatus(view, rates);
    } catch (err) {
      body = `${baseUrl} did not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (options.signal.aborted) break;
    const title = `${new Date(clock.now()).toISOString()}  ${baseUrl}  every ${options.intervalMs} ms, Ctrl-C to stop`;
    const lines = [title, '', ...body.split('\n')];
    options.write(
      options.inPlace
        ? `${HOME}${lines.map((l) => l + ERASE_LINE).join('\n')}\n${ERASE_BELOW}`
        : `${lines.join('\n')}\n\n`,
    );
    try {
      await sleep(options.intervalMs, undefined, { signal: options.signal });
    } catch {
      break; // aborted
    }
  }
}
