import type { Clock, UpstreamAttempt } from '@meshkit/toolkit/core';
import { bucketOf, LATENCY_BUCKETS, quantileMs } from './latency-buckets.js';

/** One instance's figures over the window. */
export interface WindowStats {
  /** Attempts that ended within the window. */
  requests: number;
  perSecond: number;
  /** Share of them that failed, 0–1; undefined without attempts. */
  errorRate: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

export interface AttemptStatsOptions {
  clock: Clock;
  /** Seconds the figures cover (one slot per second). Default 10. */
  windowSeconds?: number;
}

const EMPTY: WindowStats = Object.freeze({
  requests: 0,
  perSecond: 0,
  errorRate: undefined,
  p50Ms: undefined,
  p99Ms: undefined,
});

/**
 * One instance's rolling window: a ring of one-second slots, each with its attempt and failure
 * counts and a latency histogram, all in typed arrays allocated once. A slot still holding an
 * older second is zeroed when its second comes round again.
 */
class InstanceWindow {
  readonly seconds: Float64Array;
  readonly counts: Uint32Array;
  readonly failures: Uint32Array;
  readonly latencies: Uint32Array;

  constructor(
    slots: number,
    readonly firstAt: number,
  ) {
    this.seconds = new Float64Array(slots).fill(-1);
    this.counts = new Uint32Array(slots);
    this.failures = new Uint32Array(slots);
    this.latencies = new Uint32Array(slots * LATENCY_BUCKETS);
  }
}

/**
 * Per-instance request rate, latency percentiles and error rate over the last few seconds, fed by
 * the ServiceClient's `onAttempt`. Recording is O(1) with no allocation (past an instance's first
 * attempt); reading walks the window, once per dashboard refresh. A failure is what the client's
 * breakers count as one: no status (connection error, timeout) or a 5xx.
 */
export class AttemptStats {
  readonly windowSeconds: number;
  private readonly clock: Clock;
  private readonly windows = new Map<string, InstanceWindow>();
  /** The window's histograms summed, reused by every read. */
  private readonly merged = new Uint32Array(LATENCY_BUCKETS);

  constructor(options: AttemptStatsOptions) {
    this.clock = options.clock;
    this.windowSeconds = options.windowSeconds ?? 10;
    if (!Number.isInteger(this.windowSeconds) || this.windowSeconds < 1) {
      throw new Error(`windowSeconds must be a positive integer, got ${this.windowSeconds}`);
    }
  }

  /** For `ServiceClientOptions.onAttempt`. */
  readonly onAttempt = (attempt: UpstreamAttempt): void => {
    const failed = attempt.status === undefined || attempt.status >= 500;
    this.record(attempt.instance.id, attempt.durationMs, failed);
  };

  record(instanceId: string, durationMs: number, failed: boolean): void {
    const now = this.clock.now();
    let w = this.windows.get(instanceId);
    if (w === undefined) {
      w = new InstanceWindow(this.windowSeconds, now);
      this.windows.set(instanceId, w);
    }
    const second = Math.floor(now / 1000);
    const slot = second % this.windowSeconds;
    if (w.seconds[slot] !== second) {
      w.seconds[slot] = second;
      w.counts[slot] = 0;
      w.failures[slot] = 0;
      w.latencies.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    }
    w.counts[slot] = (w.counts[slot] ?? 0) + 1;
    if (failed) w.failures[slot] = (w.failures[slot] ?? 0) + 1;
    const i = slot * LATENCY_BUCKETS + bucketOf(durationMs);
    w.latencies[i] = (w.latencies[i] ?? 0) + 1;
  }

  /**
   * The figures of the current second and the `windowSeconds - 1` before it. The rate divides by
   * the time the window covers, or by the time since the instance's first attempt when shorter
   * (at least 1 s), so a new instance does not read as slow.
   */
  read(instanceId: string): WindowStats {
    const w = this.windows.get(instanceId);
    if (w === undefined) return EMPTY;
    const now = this.clock.now();
    const second = Math.floor(now / 1000);
    const oldest = second - this.windowSeconds + 1;
    const merged = this.merged;
    merged.fill(0);
    let requests = 0;
    let failures = 0;
    for (let slot = 0; slot < this.windowSeconds; slot++) {
      const s = w.seconds[slot] ?? -1;
      if (s < oldest || s > second) continue;
      requests += w.counts[slot] ?? 0;
      failures += w.failures[slot] ?? 0;
      const base = slot * LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++) merged[b] = (merged[b] ?? 0) + (w.latencies[base + b] ?? 0);
    }
    if (requests === 0) return EMPTY;
    const spanMs = Math.min(now - oldest * 1000, now - w.firstAt);
    return {
      requests,
      perSecond: requests / Math.max(1, spanMs / 1000),
      errorRate: failures / requests,
      p50Ms: quantileMs(merged, requests, 0.5),
      p99Ms: quantileMs(merged, requests, 0.99),
    };
  }

  /** Forgets every instance not in `present` (ids): instances come and go. */
  retain(present: ReadonlySet<string>): void {
    for (const id of this.windows.keys()) if (!present.has(id)) this.windows.delete(id);
  }

  /** Instance ids with a window (for tests and pruning). */
  known(): string[] {
    return [...this.windows.keys()];
  }
}
