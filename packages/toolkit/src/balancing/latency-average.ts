import { type Clock, systemClock } from '../clock.js';

export interface LatencyAverageOptions {
  /** Each sample's weight in the average. Default 0.1 (about the last 10 samples count). */
  sampleWeight?: number;
  /** While no sample comes, the average decays toward 0 with this time constant, ms. Default 10 000. */
  decayMs?: number;
  clock?: Clock;
}

/**
 * An instance's typical answer time: a plain exponentially weighted average of its latencies,
 * unlike PeakEwma, which is made to react to peaks. It tells a slow instance from a fast one that
 * just had a peak. Undefined until the first sample. Read while no samples come, it decays toward
 * 0, so an instance the balancer stopped choosing for being slow is tried again after a while.
 */
export class LatencyAverage {
  private readonly weight: number;
  private readonly decayMs: number;
  private readonly clock: Clock;
  private average: number | undefined;
  private stamp = 0;

  constructor(options: LatencyAverageOptions = {}) {
    this.weight = options.sampleWeight ?? 0.1;
    if (!(this.weight > 0 && this.weight <= 1)) throw new RangeError('LatencyAverage sampleWeight must be within (0, 1]');
    this.decayMs = options.decayMs ?? 10_000;
    if (!(this.decayMs > 0)) throw new RangeError('LatencyAverage decayMs must be positive');
    this.clock = options.clock ?? systemClock;
  }

  /** Feeds one latency sample (ms). */
  observe(rttMs: number, now: number = this.clock.now()): void {
    const rtt = Math.max(0, rttMs);
    const current = this.get(now);
    this.average = current === undefined ? rtt : current + this.weight * (rtt - current);
    this.stamp = now;
  }

  /** The average decayed to `now`; undefined before the first sample. */
  get(now: number = this.clock.now()): number | undefined {
    if (this.average === undefined) return undefined;
    return this.average * Math.exp(-Math.max(0, now - this.stamp) / this.decayMs);
  }
}
