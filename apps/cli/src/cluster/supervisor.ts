import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type Clock, systemClock } from '@meshkit/toolkit/core';
import { type BackoffOptions, RestartBackoff } from './backoff.js';
import { defaultStartPriority, type StartPriority } from './start-priority.js';

/** One supervised process: how to start it and how to tell it is up. */
export interface ChildSpec {
  /** `<service>#<n>`: names the child in notices and prefixes its output. */
  label: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Stopping goes wave by wave, lowest first: the gateway before the services behind it. */
  stopWave: number;
  /** The child's URL when this line of its stdout announces it; the child is up from that line on. */
  urlFrom(line: string): string | undefined;
}

export type SupervisorEvent =
  | { type: 'up'; label: string; pid: number; url: string; restarts: number }
  | {
      type: 'exited';
      label: string;
      pid: number | undefined;
      code: number | null;
      signal: NodeJS.Signals | null;
      /** Delay before the restart. */
      restartInMs: number;
    }
  | { type: 'spawn-error'; label: string; error: Error };

export interface ChildView {
  label: string;
  pid: number | undefined;
  url: string | undefined;
  restarts: number;
}

export interface SupervisorOptions {
  /** Measures how long a child stayed up, for the backoff's reset. */
  clock?: Clock;
  backoff?: BackoffOptions;
  /** How long a child may take to stop after SIGTERM before it gets SIGKILL. Default 15 s. */
  stopTimeoutMs?: number;
  /** How long `start()` waits for every child to be up. Default 60 s. */
  startTimeoutMs?: number;
  /** A replacement's CPU priority until it is up. Default: lowered where it can be restored (root). */
  startPriority?: StartPriority;
  /** Each line a child writes, on the stream it wrote it to. */
  onLine?(label: string, stream: 'stdout' | 'stderr', line: string): void;
  onEvent?(event: SupervisorEvent): void;
}

interface Slot {
  spec: ChildSpec;
  backoff: RestartBackoff;
  child: ChildProcess | undefined;
  /** Settles when the current child has exited and its output is read to the end. */
  closed: Promise<void>;
  url: string | undefined;
  everUp: boolean;
  restarts: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

type State = 'idle' | 'starting' | 'running' | 'failed' | 'stopping';

/**
 * Runs child processes and keeps them running: a child that exits when nobody asked it to is
 * restarted after a backoff. A child that exits before it was ever up while the group is still
 * starting fails `start()` instead, so a mistake (a port in use) does not loop forever.
 *
 * Children get their own process group (so a terminal's Ctrl-C reaches only the supervisor, which
 * then stops them in order) and an IPC channel, whose disconnect tells a child its supervisor is
 * gone even when the supervisor was killed with SIGKILL.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly clock: Clock;
  private readonly stopTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly startPriority: StartPriority;
  private state: State = 'idle';
  private startWaiter: { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;

  constructor(
    specs: ChildSpec[],
    private readonly options: SupervisorOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.startPriority = options.startPriority ?? defaultStartPriority();
    this.slots = specs.map((spec) => ({
      spec,
      backoff: new RestartBackoff(options.backoff),
      child: undefined,
      closed: Promise.resolve(),
      url: undefined,
      everUp: false,
      restarts: 0,
      startedAt: 0,
      restartTimer: undefined,
    }));
  }

  /** Starts every child; resolves once each has announced its URL. */
  start(): Promise<void> {
    if (this.state !== 'idle') return Promise.reject(new Error('a supervisor starts once'));
    this.state = 'starting';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = this.slots.filter((s) => !s.url).map((s) => s.spec.label);
        this.failStart(new Error(`${late.join(', ')} did not come up within ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      this.startWaiter = { resolve, reject, timer };
      for (const slot of this.slots) this.spawn(slot);
    });
  }

  /** The children as they are now, in the order they were given. */
  children(): ChildView[] {
    return this.slots.map((s) => ({ label: s.spec.label, pid: s.child?.pid, url: s.url, restarts: s.restarts }));
  }

  /**
   * Stops restarting, then wave by wave sends SIGTERM to every child and waits for it to exit,
   * with SIGKILL for one that outlasts `stopTimeoutMs`. Resolves with the labels of those killed.
   */
  async stop(): Promise<string[]> {
    this.state = 'stopping';
    this.settleStart(new Error('stopped while starting'));
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const forced: string[] = [];
    const waves = [...new Set(this.slots.map((s) => s.spec.stopWave))].sort((a, b) => a - b);
    for (const wave of waves) {
      await Promise.all(
        this.slots.filter((s) => s.spec.stopWave === wave).map((s) => this.stopChild(s, forced)),
      );
    }
    return forced;
  }

  /**
   * SIGKILL to every child at once, for when a graceful stop is not wanted any more. Resolves when
   * each has exited (and is reaped, so none outlives the supervisor even as a zombie).
   */
  async kill(): Promise<void> {
    this.state = 'stopping';
    this.settleStart(new Error('killed while starting'));
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill('SIGKILL');
    }
    await Promise.all(this.slots.map((s) => s.closed));
  }

  private spawn(slot: Slot): void {
    const { spec } = slot;
    const child = spawn(spec.command, spec.args, {
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    slot.child = child;
    slot.url = undefined;
    slot.startedAt = this.clock.now();
    if (slot.restarts > 0 && child.pid !== undefined) this.startPriority.lower(child.pid);

    this.readLines(slot, child, 'stderr');
    this.readLines(slot, child, 'stdout');
    slot.closed = new Promise<void>((resolve) => {
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (done) return;
        done = true;
        this.onClose(slot, child, code, signal);
        resolve();
      };
      child.once('close', finish);
      child.once('error', (error) => {
        this.options.onEvent?.({ type: 'spawn-error', label: spec.label, error });
        if (child.pid === undefined) finish(null, null); // never started: no 'close' to wait for
      });
    });
  }

  private readLines(slot: Slot, child: ChildProcess, stream: 'stdout' | 'stderr'): void {
    const input = child[stream];
    if (!input) return;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      this.options.onLine?.(slot.spec.label, stream, line);
      if (stream === 'stdout' && slot.child === child && slot.url === undefined) {
        const url = slot.spec.urlFrom(line);
        if (url !== undefined) this.onUp(slot, child, url);
      }
    });
  }

  private onUp(slot: Slot, child: ChildProcess, url: string): void {
    slot.url = url;
    slot.everUp = true;
    if (slot.restarts > 0 && child.pid !== undefined) this.startPriority.restore(child.pid);
    this.options.onEvent?.({ type: 'up', label: slot.spec.label, pid: child.pid ?? -1, url, restarts: slot.restarts });
    if (this.state === 'starting' && this.slots.every((s) => s.url !== undefined)) {
      this.state = 'running';
      this.settleStart();
    }
  }

  private onClose(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    slot.url = undefined;
    if (this.state === 'stopping' || this.state === 'failed') return;
    if (this.state === 'starting' && !slot.everUp) {
      this.failStart(new Error(`${slot.spec.label} ${exitDescription(code, signal)} before it was up`));
      return;
    }
    const restartInMs = slot.backoff.next(this.clock.now() - slot.startedAt);
    this.options.onEvent?.({ type: 'exited', label: slot.spec.label, pid: child.pid, code, signal, restartInMs });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.state !== 'starting' && this.state !== 'running') return;
      slot.restarts += 1;
      this.spawn(slot);
    }, restartInMs);
  }

  private failStart(err: Error): void {
    if (this.state !== 'starting') return;
    this.state = 'failed';
    this.settleStart(err);
  }

  private settleStart(err?: Error): void {
    const waiter = this.startWaiter;
    if (!waiter) return;
    this.startWaiter = undefined;
    clearTimeout(waiter.timer);
    if (err) waiter.reject(err);
    else waiter.resolve();
  }

  private async stopChild(slot: Slot, forced: string[]): Promise<void> {
    const child = slot.child;
    if (!child) return;
    const closed = slot.closed;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      forced.push(slot.spec.label);
      child.kill('SIGKILL');
      await closed;
    }
  }
}

/** "exited with code 1", "was killed by SIGKILL". */
export function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}
