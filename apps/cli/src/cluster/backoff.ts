export interface BackoffOptions {
  /** Delay before the first restart. Default 250 ms. */
  initialMs?: number;
  /** Longest delay. Default 10 s. */
  maxMs?: number;
  /** A run at least this long counts as healthy: the next crash starts from `initialMs` again. Default 30 s. */
  resetAfterMs?: number;
}

/**
 * Restart delays of one supervised child: `initialMs`, doubling with each consecutive crash, capped
 * at `maxMs`; a run that lasted `resetAfterMs` starts the count over. Time comes in as arguments,
 * so the policy has no clock of its own.
 */
export class RestartBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private crashes = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 250;
    this.maxMs = options.maxMs ?? 10_000;
    this.resetAfterMs = options.resetAfterMs ?? 30_000;
  }

  /** The delay before restarting a child that ran `upMs` before it exited. */
  next(upMs: number): number {
    if (upMs >= this.resetAfterMs) this.crashes = 0;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** this.crashes);
    if (delay < this.maxMs) this.crashes += 1; // stop counting once capped: 2 ** n stays finite
    return delay;
  }
}
