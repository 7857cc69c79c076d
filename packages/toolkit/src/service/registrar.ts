import type { FastifyBaseLogger } from 'fastify';
import { type Clock, systemClock } from '../clock.js';
import type { InstanceRegistration, InstanceStatus } from '../registry/instance.js';
import type { Registry } from '../registry/registry.js';

export interface RegistrarOptions {
  /** Lease length, ms. Default 6000. */
  ttlMs?: number;
  /** Heartbeat interval, ms; well under the TTL. Default 2000. */
  heartbeatMs?: number;
  logger?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'debug'>;
  clock?: Clock;
}

/** How long `stop()` waits for the deregistration before giving up (the lease expires anyway). */
const DEREGISTER_TIMEOUT_MS = 1000;

const silent = { info() {}, warn() {}, debug() {} };

/**
 * Keeps one instance registered: registers, heartbeats on an unref'd timer, re-registers at once
 * when the lease is gone (expired, Redis flushed), and rides out registry outages — it retries on
 * every tick and never throws into the process. Registry calls run one at a time, so a late
 * heartbeat cannot resurrect an instance after `stop()` deregistered it.
 */
export class Registrar {
  private readonly instance: InstanceRegistration;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'debug'>;
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;
  /** The registry call in progress; the next one waits for it. */
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private registered = false;
  private stopped = false;
  /** When the current outage began (clock ms), or undefined while the registry answers. */
  private failingSince: number | undefined;

  constructor(
    private readonly registry: Registry,
    instance: InstanceRegistration,
    options: RegistrarOptions = {},
  ) {
    this.instance = { ...instance, tags: [...instance.tags], meta: { ...instance.meta } };
    this.ttlMs = options.ttlMs ?? 6000;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.log = options.logger ?? silent;
    this.clock = options.clock ?? systemClock;
  }

  /** Registers (waiting at most one TTL), then heartbeats. Never rejects: failures are retried. */
  async start(): Promise<void> {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.timer.unref();
    await this.run(() => this.register());
  }

  /** Changes the advertised status (e.g. `draining`) and re-registers so watchers see it. */
  async setStatus(status: InstanceStatus): Promise<void> {
    this.instance.status = status;
    if (this.stopped) return;
    await this.run(() => this.register());
  }

  /** Stops heartbeating and deregisters, best effort and briefly: the lease expires anyway. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    const gone = this.queue.then(async () => {
      try {
        await this.registry.deregister(this.instance.id);
        this.registered = false;
      } catch (err) {
        this.log.warn({ err, id: this.instance.id }, 'could not deregister; the lease will expire');
      }
    });
    this.queue = gone;
    await Promise.race([gone, delay(DEREGISTER_TIMEOUT_MS)]);
  }

  private tick(): void {
    if (this.busy || this.stopped) return;
    void this.run(() => (this.registered ? this.heartbeat() : this.register()));
  }

  private async heartbeat(): Promise<void> {
    const alive = await this.registry.heartbeat(this.instance.id);
    if (!alive) {
      this.log.info({ id: this.instance.id }, 'lease gone; registering again');
      await this.register();
    }
  }

  private async register(): Promise<void> {
    await this.registry.register({ ...this.instance }, { ttlMs: this.ttlMs });
    this.registered = true;
  }

  /** Runs one registry call after the previous one; failures are logged once per outage. */
  private run(call: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped) return;
      this.busy = true;
      try {
        // A registry that hangs must not stall the heartbeats (or a stop) behind it for good.
        await withTimeout(call(), this.ttlMs);
        this.recovered();
      } catch (err) {
        this.failed(err);
      } finally {
        this.busy = false;
      }
    });
    this.queue = next;
    return next;
  }

  private failed(err: unknown): void {
    this.registered = false; // a lease may lapse during an outage: register anew after it
    if (this.failingSince !== undefined) {
      this.log.debug({ err }, 'registry still unreachable');
      return;
    }
    this.failingSince = this.clock.now();
    this.log.warn(
      { err, registry: this.registry.kind, service: this.instance.service },
      'registry unreachable; serving anyway and retrying on every heartbeat',
    );
  }

  private recovered(): void {
    if (this.failingSince === undefined) return;
    const outageMs = Math.round(this.clock.now() - this.failingSince);
    this.failingSince = undefined;
    this.log.info({ registry: this.registry.kind, outageMs }, 'registry reachable again; registered');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function withTimeout(call: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`registry did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}
