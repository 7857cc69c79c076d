import { CircuitState, ConsecutiveBreaker, type IBreaker } from 'cockatiel';
import { type Clock, systemClock } from '../clock.js';
import type { CircuitStateName } from '../client/upstream.js';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5 (the seed's). */
  threshold?: number;
  /** How long it stays open before one probe is let through, ms. Default 60 000 (the seed's). */
  openMs?: number;
  clock?: Clock;
}

type State =
  | { name: 'closed' }
  | { name: 'open'; openedAt: number }
  | { name: 'half_open'; probeInFlight: boolean };

/**
 * One instance's circuit: closed → (threshold consecutive failures) → open → (openMs) → half-open,
 * which admits exactly one probe: its success closes, its failure opens for another openMs.
 * cockatiel's ConsecutiveBreaker does the counting. We keep our own state machine rather than
 * cockatiel's CircuitBreakerPolicy because that one reads Date.now() inside and only executes
 * calls: the balancer needs a non-executing "would you admit one?" check (`available()`).
 */
export class CircuitBreaker {
  readonly threshold: number;
  readonly openMs: number;
  private readonly clock: Clock;
  private readonly counter: IBreaker;
  private current: State = { name: 'closed' };

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = Math.max(1, Math.floor(options.threshold ?? 5));
    this.openMs = Math.max(0, options.openMs ?? 60_000);
    this.clock = options.clock ?? systemClock;
    this.counter = new ConsecutiveBreaker(this.threshold);
  }

  /** The state as callers should see it: an open circuit whose time is up reads `half_open`. */
  get state(): CircuitStateName {
    return this.openTimeUp() ? 'half_open' : this.current.name;
  }

  /** Would `acquire()` succeed now? Does not change anything (the balancer's filter). */
  available(): boolean {
    const s = this.current;
    if (s.name === 'closed') return true;
    if (s.name === 'half_open') return !s.probeInFlight;
    return this.openTimeUp();
  }

  /** Takes permission for one call. In half-open exactly one probe is admitted at a time. */
  acquire(): boolean {
    if (this.openTimeUp()) this.current = { name: 'half_open', probeInFlight: false };
    const s = this.current;
    if (s.name === 'closed') return true;
    if (s.name === 'half_open' && !s.probeInFlight) {
      this.current = { name: 'half_open', probeInFlight: true };
      return true;
    }
    return false;
  }

  /** An admitted call succeeded. */
  success(): void {
    const s = this.current;
    if (s.name === 'closed') this.counter.success(CircuitState.Closed);
    else if (s.name === 'half_open') this.close();
    // While open: a call admitted before it opened finished late; it proves little, ignore it.
  }

  /** An admitted call failed (connection error, timeout, 5xx). */
  failure(): void {
    const s = this.current;
    if (s.name === 'closed') {
      if (this.counter.failure(CircuitState.Closed)) this.open();
    } else if (s.name === 'half_open') {
      this.open();
    }
  }

  /** An admitted call ended without a verdict (the caller gave up): frees the probe slot. */
  release(): void {
    if (this.current.name === 'half_open') this.current = { name: 'half_open', probeInFlight: false };
  }

  /** Milliseconds until a call may be admitted again: 0 when available now. */
  retryAfterMs(): number {
    const s = this.current;
    if (s.name === 'open') return Math.max(0, s.openedAt + this.openMs - this.clock.now());
    if (s.name === 'half_open' && s.probeInFlight) {
      // The probe's outcome decides; no clock says when. A second is the smallest Retry-After.
      return 1000;
    }
    return 0;
  }

  private openTimeUp(): boolean {
    const s = this.current;
    return s.name === 'open' && this.clock.now() - s.openedAt >= this.openMs;
  }

  private open(): void {
    this.current = { name: 'open', openedAt: this.clock.now() };
  }

  private close(): void {
    this.counter.success(CircuitState.HalfOpen);
    this.current = { name: 'closed' };
  }
}
