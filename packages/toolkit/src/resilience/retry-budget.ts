import { type Clock, systemClock } from '../clock.js';

export interface RetryBudgetOptions {
  /** Retries may add at most this share of the recent requests. Default 0.2 (finagle's, linkerd's, Envoy's). */
  ratio?: number;
  /** Retries always allowed per second, so quiet clients can retry at all. Default 3 (finagle, linkerd: 10). */
  minPerSecond?: number;
  /** How far back "recent" reaches, ms. Default 10 000 (finagle's and linkerd's TTL). */
  windowMs?: number;
  clock?: Clock;
}

const BUCKETS = 10;

/** Counts over a sliding window, kept in BUCKETS time slices so memory stays constant. */
class WindowedCounter {
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  private readonly starts = new Array<number>(BUCKETS).fill(Number.NEGATIVE_INFINITY);

  constructor(private readonly sliceMs: number) {}

  add(now: number): void {
    const slice = Math.floor(now / this.sliceMs);
    const i = ((slice % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.starts[i] !== slice) {
      this.starts[i] = slice;
      this.counts[i] = 0;
    }
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  sum(now: number): number {
    const current = Math.floor(now / this.sliceMs);
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const start = this.starts[i] ?? Number.NEGATIVE_INFINITY;
      if (start > current - BUCKETS && start <= current) total += this.counts[i] ?? 0;
    }
    return total;
  }
}

/**
 * A retry budget (finagle's RetryBudget, linkerd's `retry_ratio` + `min_retries_per_second`):
 * over the last `windowMs`, retries may number at most `ratio × requests + minPerSecond ×
 * window seconds`. A storm of failures therefore adds a bounded share of load instead of
 * multiplying it by the attempt count. `deposit()` once per original request; `tryWithdraw()`
 * before each retry.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly requests: WindowedCounter;
  private readonly retries: WindowedCounter;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.2;
    this.minPerSecond = options.minPerSecond ?? 3;
    this.windowMs = options.windowMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    if (!(this.ratio >= 0)) throw new RangeError('retry budget ratio must be ≥ 0');
    if (!(this.minPerSecond >= 0)) throw new RangeError('retry budget minPerSecond must be ≥ 0');
    if (!(this.windowMs >= BUCKETS)) throw new RangeError(`retry budget windowMs must be ≥ ${BUCKETS}`);
    this.requests = new WindowedCounter(this.windowMs / BUCKETS);
    this.retries = new WindowedCounter(this.windowMs / BUCKETS);
  }

  /** One original request (not a retry). */
  deposit(): void {
    this.requests.add(this.clock.now());
  }

  /** Would a retry be allowed now? Changes nothing. */
  canRetry(): boolean {
    return this.balance(this.clock.now()) >= 1;
  }

  /** Takes one retry from the budget; false when it is exhausted. */
  tryWithdraw(): boolean {
    const now = this.clock.now();
    if (this.balance(now) < 1) return false;
    this.retries.add(now);
    return true;
  }

  /** Retries still allowed in the current window (may be fractional). */
  balance(now: number = this.clock.now()): number {
    const allowed = this.ratio * this.requests.sum(now) + (this.minPerSecond * this.windowMs) / 1000;
    return allowed - this.retries.sum(now);
  }
}
