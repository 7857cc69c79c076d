/** Time source. Policies take a Clock so tests can drive time; only the edges read the system clock. */
export interface Clock {
  /** Milliseconds, monotonic enough for durations. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
