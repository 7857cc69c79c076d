import { getPriority, setPriority } from 'node:os';

/**
 * A replacement child starts at a lower CPU priority and gets the supervisor's own back once it is
 * up. Starting a meshkit process costs a couple of CPU-seconds (loading and compiling its modules);
 * on a small host that burst would otherwise be taken from the live instances, which are the ones
 * carrying the traffic the replacement is meant to relieve. (The first start of a cluster is not
 * lowered: nothing is serving yet.)
 */
export interface StartPriority {
  /** Lowers a just-spawned child. */
  lower(pid: number): void;
  /** Gives an up child the supervisor's priority back. */
  restore(pid: number): void;
}

/** The niceness a replacement starts with when the supervisor may restore it later. */
export const REPLACEMENT_NICENESS = 10;

/**
 * Linux lets any process raise a child's niceness, but lowering it again takes root
 * (CAP_SYS_NICE): without that a lowered replacement would stay behind its siblings for good, so
 * then nothing is lowered at all.
 */
export function defaultStartPriority(): StartPriority {
  return process.getuid?.() === 0 ? niceWhileStarting(REPLACEMENT_NICENESS) : unchangedPriority;
}

export const unchangedPriority: StartPriority = { lower() {}, restore() {} };

export function niceWhileStarting(niceness: number): StartPriority {
  return {
    lower(pid) {
      ignoreGone(() => setPriority(pid, Math.max(getPriority(), niceness)));
    },
    restore(pid) {
      ignoreGone(() => setPriority(pid, getPriority()));
    },
  };
}

/** The child may already have exited (ESRCH); its priority no longer matters. */
function ignoreGone(change: () => void): void {
  try {
    change();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH' && (err as { info?: { code?: string } }).info?.code !== 'ESRCH') {
      throw err;
    }
  }
}
