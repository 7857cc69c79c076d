import { type Clock, systemClock } from '../clock.js';

export interface OutlierDetectorOptions {
  /** Consecutive failures (5xx, timeouts, connection errors) that eject an instance. Default 5 (Envoy's). */
  consecutive5xx?: number;
  /** An ejection lasts this × the times the instance has been ejected, ms. Default 30 000 (Envoy's). */
  baseEjectionMs?: number;
  /** Upper bound of one ejection, ms. Default 300 000 (Envoy's). */
  maxEjectionMs?: number;
  /** At most this share of a service's instances is ejected at once, but always 1. Default 50 (Envoy: 10). */
  maxEjectionPercent?: number;
  /** Below this share of available instances the ejections are ignored (panic routing). Default 50 (Envoy's). */
  panicThresholdPercent?: number;
  clock?: Clock;
}

/**
 * What one request taught about an instance. `refused`: the connection failed before anything was
 * sent (refused, unreachable, connect timeout): the instance is not there, eject it at once.
 */
export type OutlierOutcome = 'success' | 'failure' | 'refused';

export interface OutlierState {
  ejected: boolean;
  /** When the current ejection ends (clock ms), while ejected. */
  ejectedUntil: number | undefined;
  /** The ejection-time multiplier: +1 per ejection, −1 per ejection-free base period. */
  timesEjected: number;
  /** Every ejection since the instance was first seen. */
  ejections: number;
  consecutiveFailures: number;
}

interface Entry {
  consecutiveFailures: number;
  timesEjected: number;
  ejections: number;
  ejectedUntil: number | undefined;
  /** Start of the current ejection-free stretch, for the multiplier's decay. */
  calmSince: number;
}

/**
 * Passive health of one service's instances, learned from real traffic, after Envoy's outlier
 * detection: consecutive failures (or one refused connection) eject an instance for
 * `baseEjectionMs × timesEjected` (capped), never more than `maxEjectionPercent` of the instances
 * at once; it returns by itself when the time is up. Time is read lazily from the clock, so there
 * is no sweep timer. Routing around ejected instances (and panic) is the client's job, helped by
 * `panic()`.
 */
export class OutlierDetector {
  readonly consecutive5xx: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
  readonly panicThresholdPercent: number;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();

  constructor(options: OutlierDetectorOptions = {}) {
    this.consecutive5xx = Math.floor(options.consecutive5xx ?? 5);
    this.baseEjectionMs = options.baseEjectionMs ?? 30_000;
    this.maxEjectionMs = options.maxEjectionMs ?? 300_000;
    this.maxEjectionPercent = options.maxEjectionPercent ?? 50;
    this.panicThresholdPercent = options.panicThresholdPercent ?? 50;
    this.clock = options.clock ?? systemClock;
    if (!(this.consecutive5xx >= 1)) throw new RangeError('outlier consecutive5xx must be at least 1');
    if (!(this.baseEjectionMs > 0)) throw new RangeError('outlier baseEjectionMs must be positive');
    if (!(this.maxEjectionMs >= this.baseEjectionMs)) {
      throw new RangeError('outlier maxEjectionMs must be at least baseEjectionMs');
    }
    for (const [name, value] of [
      ['maxEjectionPercent', this.maxEjectionPercent],
      ['panicThresholdPercent', this.panicThresholdPercent],
    ] as const) {
      if (!(value >= 0 && value <= 100)) throw new RangeError(`outlier ${name} must be within 0..100`);
    }
  }

  /**
   * Records the outcome of one request to instance `id`. `peers` are the ids of the service's
   * instances that count for the ejection limit (the healthy ones; `id` is counted in any case).
   * Returns true when this outcome ejected the instance.
   */
  record(id: string, outcome: OutlierOutcome, peers: Iterable<string>): boolean {
    const now = this.clock.now();
    const entry = this.entry(id, now);
    if (outcome === 'success') {
      entry.consecutiveFailures = 0;
      return false;
    }
    // Late outcomes while ejected (requests already in flight, panic traffic) do not extend it.
    if (entry.ejectedUntil !== undefined) return false;
    entry.consecutiveFailures += 1;
    if (outcome !== 'refused' && entry.consecutiveFailures < this.consecutive5xx) return false;
    // Over the limit the instance stays in (the count stays high: the next failure tries again).
    if (!this.roomToEject(id, peers, now)) return false;
    entry.timesEjected += 1;
    entry.ejections += 1;
    entry.consecutiveFailures = 0;
    entry.ejectedUntil = now + Math.min(this.baseEjectionMs * entry.timesEjected, this.maxEjectionMs);
    return true;
  }

  isEjected(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.settle(entry, this.clock.now());
    return entry.ejectedUntil !== undefined;
  }

  /** Milliseconds until the instance's ejection ends: 0 when it is not ejected. */
  ejectedForMs(id: string): number {
    const entry = this.entries.get(id);
    if (!entry) return 0;
    const now = this.clock.now();
    this.settle(entry, now);
    return entry.ejectedUntil === undefined ? 0 : entry.ejectedUntil - now;
  }

  state(id: string): OutlierState {
    const entry = this.entries.get(id);
    if (!entry) {
      return { ejected: false, ejectedUntil: undefined, timesEjected: 0, ejections: 0, consecutiveFailures: 0 };
    }
    this.settle(entry, this.clock.now());
    return {
      ejected: entry.ejectedUntil !== undefined,
      ejectedUntil: entry.ejectedUntil,
      timesEjected: entry.timesEjected,
      ejections: entry.ejections,
      consecutiveFailures: entry.consecutiveFailures,
    };
  }

  /**
   * Envoy's panic: when fewer than `panicThresholdPercent` of `total` instances are `available`,
   * ejections are ignored, so a detector that ejected too much cannot take the whole service down.
   */
  panic(total: number, available: number): boolean {
    return total > 0 && available * 100 < total * this.panicThresholdPercent;
  }

  /** Forgets an instance that left the service. */
  forget(id: string): void {
    this.entries.delete(id);
  }

  private roomToEject(id: string, peers: Iterable<string>, now: number): boolean {
    const population = new Set(peers).add(id);
    let ejected = 0;
    for (const peer of population) {
      const entry = this.entries.get(peer);
      if (entry === undefined) continue;
      this.settle(entry, now);
      if (entry.ejectedUntil !== undefined) ejected += 1;
    }
    const allowed = Math.max(1, Math.floor((population.size * this.maxEjectionPercent) / 100));
    return ejected < allowed;
  }

  private entry(id: string, now: number): Entry {
    let entry = this.entries.get(id);
    if (entry) {
      this.settle(entry, now);
      return entry;
    }
    entry = { consecutiveFailures: 0, timesEjected: 0, ejections: 0, ejectedUntil: undefined, calmSince: now };
    this.entries.set(id, entry);
    return entry;
  }

  /** Ends an ejection whose time is up, and decays the multiplier by one per calm base period. */
  private settle(entry: Entry, now: number): void {
    if (entry.ejectedUntil !== undefined) {
      if (now < entry.ejectedUntil) return;
      entry.calmSince = entry.ejectedUntil;
      entry.ejectedUntil = undefined;
    }
    if (entry.timesEjected === 0) return;
    const periods = Math.floor((now - entry.calmSince) / this.baseEjectionMs);
    if (periods <= 0) return;
    const decay = Math.min(periods, entry.timesEjected);
    entry.timesEjected -= decay;
    entry.calmSince += decay * this.baseEjectionMs;
  }
}
