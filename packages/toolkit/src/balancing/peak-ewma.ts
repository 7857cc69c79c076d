import { type Clock, systemClock } from '../clock.js';

export interface PeakEwmaOptions {
  /** Decay time constant in ms: how fast a past peak is forgotten. Default 10 000. */
  decayMs?: number;
  /** Estimate before the first sample, in ms. Default 30 (linkerd's default RTT). */
  defaultRttMs?: number;
  /** The least weight a sample below the estimate gets, whatever the time since the last one. Default 0.1. */
  minSampleWeight?: number;
  clock?: Clock;
}

/**
 * Peak-EWMA latency estimate (tower's `load::peak_ewma`, from Finagle): a sample above the
 * estimate replaces it at once (peaks count fully); otherwise the estimate moves toward the sample
 * by 1 - exp(-elapsed / decay), and by at least `minSampleWeight`. That floor is meshkit's: under
 * load samples come every fraction of a millisecond, so by time alone one queueing peak would
 * hold a fast instance's estimate up for seconds, as high as a truly slow instance's. Reading it
 * decays toward 0 with time, so an idle instance with an old peak, or the default, becomes worth
 * trying again.
 */
export class PeakEwma {
  private readonly decayMs: number;
  private readonly keepAtMost: number;
  private readonly clock: Clock;
  private estimate: number;
  private stamp: number;

  constructor(options: PeakEwmaOptions = {}) {
    this.decayMs = options.decayMs ?? 10_000;
    if (!(this.decayMs > 0)) throw new RangeError('PeakEwma decayMs must be positive');
    const minWeight = options.minSampleWeight ?? 0.1;
    if (!(minWeight >= 0 && minWeight <= 1)) throw new RangeError('PeakEwma minSampleWeight must be within 0..1');
    this.keepAtMost = 1 - minWeight;
    this.clock = options.clock ?? systemClock;
    this.estimate = options.defaultRttMs ?? 30;
    this.stamp = this.clock.now();
  }

  /** Feeds one latency sample (ms); returns the new estimate. */
  observe(rttMs: number, now: number = this.clock.now()): number {
    const rtt = Math.max(0, rttMs);
    if (rtt > this.estimate) {
      this.estimate = rtt;
    } else {
      const keep = Math.min(this.decayed(now), this.keepAtMost);
      this.estimate = this.estimate * keep + rtt * (1 - keep);
    }
    this.stamp = Math.max(this.stamp, now);
    return this.estimate;
  }

  /** The estimate decayed to `now` by time alone (tower's `load()`); reading changes nothing. */
  get(now: number = this.clock.now()): number {
    return this.estimate * this.decayed(now);
  }

  private decayed(now: number): number {
    return Math.exp(-Math.max(0, now - this.stamp) / this.decayMs);
  }
}
