import { type Clock, systemClock } from '../clock.js';

export interface PeakEwmaOptions {
  /** Decay time constant in ms: how fast a past peak is forgotten. Default 10 000. */
  decayMs?: number;
  /** Estimate before the first sample, in ms. Default 30 (linkerd's default RTT). */
  defaultRttMs?: number;
  clock?: Clock;
}

/**
 * Peak-EWMA latency estimate (tower's `load::peak_ewma`, from Finagle): a sample above the
 * estimate replaces it at once (peaks count fully); otherwise the estimate moves toward the sample
 * by 1 - exp(-elapsed / decay). Reading it decays toward 0, so an idle instance with an old peak,
 * or the default, becomes worth trying again.
 */
export class PeakEwma {
  private readonly decayMs: number;
  private readonly clock: Clock;
  private estimate: number;
  private stamp: number;

  constructor(options: PeakEwmaOptions = {}) {
    this.decayMs = options.decayMs ?? 10_000;
    if (!(this.decayMs > 0)) throw new RangeError('PeakEwma decayMs must be positive');
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
      const decay = Math.exp(-Math.max(0, now - this.stamp) / this.decayMs);
      this.estimate = this.estimate * decay + rtt * (1 - decay);
    }
    this.stamp = Math.max(this.stamp, now);
    return this.estimate;
  }

  /** The estimate decayed to `now` (tower's `load()`: an update with a zero sample). */
  get(now: number = this.clock.now()): number {
    return this.observe(0, now);
  }
}
