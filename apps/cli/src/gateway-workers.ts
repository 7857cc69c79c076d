import cluster from 'node:cluster';
import { type Clock, systemClock } from '@meshkit/toolkit/core';
import { type BackoffOptions, RestartBackoff } from './cluster/backoff.js';
import { exitDescription } from './cluster/supervisor.js';

/**
 * `GATEWAY_WORKERS=n`: n gateway processes on one port, with node:cluster. The primary only
 * supervises: each worker runs the whole gateway (its own discovery, client and breakers) on the
 * listening socket the primary shares; on Linux the primary hands out connections round-robin.
 * Workers talk to the primary over the cluster channel: "I am up at <url>" and "stop now".
 */

/** A worker tells its primary it is serving. */
interface UpMessage {
  meshkit: 'gateway-up';
  url: string;
}
/** The primary asks a worker to stop gracefully, as SIGTERM would. */
const STOP_MESSAGE = { meshkit: 'gateway-stop' } as const;

function isUpMessage(message: unknown): message is UpMessage {
  const m = message as Partial<UpMessage> | null;
  return typeof m === 'object' && m !== null && m.meshkit === 'gateway-up' && typeof m.url === 'string';
}

function isStopMessage(message: unknown): boolean {
  const m = message as { meshkit?: unknown } | null;
  return typeof m === 'object' && m !== null && m.meshkit === STOP_MESSAGE.meshkit;
}

/** True in a process the gateway primary forked. */
export function isGatewayWorker(): boolean {
  return cluster.isWorker;
}

export type WorkerPhase = 'starting' | 'running' | 'stopping';

/**
 * In a worker: stop gracefully when the primary asks (it asks only once the worker is up; one
 * still starting gets SIGTERM). A stop already under way (the terminal's Ctrl-C reaches every
 * process of the group) is left alone: a second signal would cut it short. If the primary dies,
 * node:cluster ends the worker itself.
 */
export function followPrimary(phase: () => WorkerPhase): void {
  process.on('message', (message: unknown) => {
    if (isStopMessage(message) && phase() === 'running') process.kill(process.pid, 'SIGTERM');
  });
}

/** In a worker: tell the primary this worker serves at `url`. */
export function reportUp(url: string): void {
  const message: UpMessage = { meshkit: 'gateway-up', url };
  process.send?.(message);
}

/** The part of a worker process the primary uses; a fake stands in for it in unit tests. */
export interface WorkerProcess {
  readonly pid: number | undefined;
  /** Sends a message over the cluster channel; false when the channel is gone. */
  send(message: unknown): boolean;
  kill(signal: NodeJS.Signals): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

/** Forks one worker with node:cluster: the same script and arguments as this process. */
export function forkClusterWorker(): WorkerProcess {
  const worker = cluster.fork();
  return {
    get pid() {
      return worker.process.pid;
    },
    send(message) {
      if (!worker.isConnected()) return false;
      worker.send(message as object); // false only means queued: it is still sent
      return true;
    },
    kill(signal) {
      // Not worker.kill(): that disconnects first, and a disconnected worker cannot be told to stop.
      worker.process.kill(signal);
    },
    onMessage(listener) {
      worker.on('message', listener);
    },
    onExit(listener) {
      worker.on('exit', listener);
    },
  };
}

export type GatewayWorkerEvent =
  | { type: 'up'; worker: number; pid: number | undefined; url: string; restarts: number }
  | {
      type: 'exited';
      worker: number;
      pid: number | undefined;
      code: number | null;
      signal: NodeJS.Signals | null;
      restartInMs: number;
    };

export interface GatewayWorkersOptions {
  /** How many workers, 1 or more. */
  count: number;
  /** Starts one worker. Default: `forkClusterWorker`. */
  fork?: () => WorkerProcess;
  /** Measures how long a worker stayed up, for the backoff's reset. */
  clock?: Clock;
  backoff?: BackoffOptions;
  /** How long a worker may take to stop before SIGKILL. Default 12 s (under the 15 s of the primary's own stop). */
  stopTimeoutMs?: number;
  /** How long `start()` waits for every worker to be up. Default 60 s. */
  startTimeoutMs?: number;
  onEvent?(event: GatewayWorkerEvent): void;
}

export interface GatewayWorkerView {
  /** 1-based, stable across restarts. */
  worker: number;
  pid: number | undefined;
  url: string | undefined;
  restarts: number;
}

interface Slot {
  worker: number;
  process: WorkerProcess | undefined;
  /** Settles when the current worker has exited. */
  exited: Promise<void>;
  url: string | undefined;
  everUp: boolean;
  restarts: number;
  startedAt: number;
  backoff: RestartBackoff;
  restartTimer: NodeJS.Timeout | undefined;
}

type State = 'idle' | 'starting' | 'running' | 'failed' | 'stopping';

/**
 * The primary's side: keeps `count` workers running. A worker that exits while running is
 * replaced after a backoff; one that exits before it was ever up while starting fails `start()`
 * (a port in use would otherwise loop forever).
 */
export class GatewayWorkers {
  private readonly slots: Slot[];
  private readonly fork: () => WorkerProcess;
  private readonly clock: Clock;
  private readonly stopTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private state: State = 'idle';
  private startWaiter: { resolve(url: string): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly options: GatewayWorkersOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new RangeError('count must be a positive integer');
    this.fork = options.fork ?? forkClusterWorker;
    this.clock = options.clock ?? systemClock;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 12_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.slots = Array.from({ length: options.count }, (_, i) => ({
      worker: i + 1,
      process: undefined,
      exited: Promise.resolve(),
      url: undefined,
      everUp: false,
      restarts: 0,
      startedAt: 0,
      backoff: new RestartBackoff(options.backoff),
      restartTimer: undefined,
    }));
  }

  /** Forks every worker; resolves with the gateway's URL once each is up. */
  start(): Promise<string> {
    if (this.state !== 'idle') return Promise.reject(new Error('gateway workers start once'));
    this.state = 'starting';
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = this.slots.filter((s) => !s.url).map((s) => s.worker);
        this.failStart(new Error(`gateway worker ${late.join(', ')} did not come up within ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      this.startWaiter = { resolve, reject, timer };
      for (const slot of this.slots) this.spawn(slot);
    });
  }

  workers(): GatewayWorkerView[] {
    return this.slots.map((s) => ({ worker: s.worker, pid: s.process?.pid, url: s.url, restarts: s.restarts }));
  }

  /**
   * Stops replacing workers, asks each to stop gracefully (SIGTERM to one not up yet) and waits
   * for it, with SIGKILL for one that outlasts `stopTimeoutMs`. Resolves with the numbers of the
   * workers killed.
   */
  async stop(): Promise<number[]> {
    this.state = 'stopping';
    this.settleStart(new Error('stopped while starting'));
    const forced: number[] = [];
    await Promise.all(
      this.slots.map(async (slot) => {
        clearTimeout(slot.restartTimer);
        const worker = slot.process;
        if (!worker) return;
        // A worker still starting may not listen for messages yet, and holds nothing worth a graceful stop.
        if (slot.url === undefined || !worker.send(STOP_MESSAGE)) worker.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          slot.exited.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          forced.push(slot.worker);
          worker.kill('SIGKILL');
          await slot.exited;
        }
      }),
    );
    return forced;
  }

  private spawn(slot: Slot): void {
    const worker = this.fork();
    slot.process = worker;
    slot.url = undefined;
    slot.startedAt = this.clock.now();
    worker.onMessage((message) => {
      if (isUpMessage(message) && slot.process === worker && slot.url === undefined) this.onUp(slot, worker, message.url);
    });
    slot.exited = new Promise<void>((resolve) => {
      worker.onExit((code, signal) => {
        this.onExit(slot, worker, code, signal);
        resolve();
      });
    });
  }

  private onUp(slot: Slot, worker: WorkerProcess, url: string): void {
    slot.url = url;
    slot.everUp = true;
    this.options.onEvent?.({ type: 'up', worker: slot.worker, pid: worker.pid, url, restarts: slot.restarts });
    if (this.state === 'starting' && this.slots.every((s) => s.url !== undefined)) {
      this.state = 'running';
      this.settleStart(undefined, url);
    }
  }

  private onExit(slot: Slot, worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.process !== worker) return;
    slot.process = undefined;
    slot.url = undefined;
    if (this.state === 'stopping' || this.state === 'failed') return;
    if (this.state === 'starting' && !slot.everUp) {
      this.failStart(new Error(`gateway worker ${slot.worker} ${exitDescription(code, signal)} before it was up`));
      return;
    }
    const restartInMs = slot.backoff.next(this.clock.now() - slot.startedAt);
    this.options.onEvent?.({ type: 'exited', worker: slot.worker, pid: worker.pid, code, signal, restartInMs });
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

  private settleStart(err: Error | undefined, url = ''): void {
    const waiter = this.startWaiter;
    if (!waiter) return;
    this.startWaiter = undefined;
    clearTimeout(waiter.timer);
    if (err) waiter.reject(err);
    else waiter.resolve(url);
  }
}

/** How the primary reports what happened to a worker, one line each (undefined: nothing to say). */
export function describeWorkerEvent(event: GatewayWorkerEvent): string | undefined {
  switch (event.type) {
    case 'exited':
      return `gateway worker ${event.worker} (pid ${event.pid ?? '?'}) ${exitDescription(event.code, event.signal)}; restarting in ${event.restartInMs} ms`;
    case 'up':
      return event.restarts > 0 ? `gateway worker ${event.worker} restarted: pid ${event.pid ?? '?'}` : undefined;
  }
}
