import { type Clock, systemClock } from '../clock.js';
import type { ServiceInstance } from '../registry/instance.js';
import type { RegistryLogger } from '../registry/registration.js';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import type { InstanceSource } from './instance-source.js';

export interface DiscoveryOptions {
  /** How often the whole view is re-read (expiries publish nothing). Default 1000 ms. */
  resyncIntervalMs?: number;
  logger?: RegistryLogger;
  /**
   * How long to keep serving a service the registry forgot entirely without announcing it (no
   * `down` event, and its name gone from the list: FLUSHALL, or a Redis restarted empty) — its
   * instances re-register at their next heartbeat, so set it above the heartbeat interval.
   * Default 3000 ms.
   */
  vanishGraceMs?: number;
  /** Stamps `lastSyncAt()` and times the vanish grace. */
  clock?: Clock;
}

const NONE: readonly ServiceInstance[] = Object.freeze([]);

/**
 * The local view of every service's instances, kept fresh from the registry's change feed and
 * a periodic full resync. Reads are synchronous and do no I/O; when the registry is unreachable
 * the last good view keeps serving.
 */
export class Discovery implements InstanceSource {
  private readonly resyncIntervalMs: number;
  private readonly logger?: RegistryLogger;
  private readonly clock: Clock;
  private readonly views = new Map<string, readonly ServiceInstance[]>();
  /** Per service, bumped by every applied event: a resync read that overlapped one is stale. */
  private readonly generations = new Map<string, number>();
  private readonly listeners = new Set<(service: string) => void>();
  private readonly vanishGraceMs: number;
  /** Services the registry forgot without a word, and since when (clock ms). */
  private readonly vanishedSince = new Map<string, number>();
  private unwatch?: () => void;
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<boolean>;
  private started = false;
  private stopped = false;
  private synced = false;
  private lastSync?: number;
  private failing = false;

  constructor(
    private readonly registry: Registry,
    options: DiscoveryOptions = {},
  ) {
    this.resyncIntervalMs = options.resyncIntervalMs ?? 1000;
    this.vanishGraceMs = options.vanishGraceMs ?? 3000;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Subscribes to changes and makes a first full sync. Resolves once that sync succeeded or failed
   * (never throws: a registry down at start is retried in the background).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      this.unwatch = this.registry.watch((event) => this.apply(event));
      // Read the full view only once the feed is live, so no change falls in between.
      await this.registry.watchReady?.();
    } catch (err) {
      this.logger?.warn({ err }, 'discovery: cannot watch the registry; relying on resync');
    }
    await this.resync();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** True once a full sync has succeeded. */
  ready(): boolean {
    return this.synced;
  }

  /** Clock time of the last successful full sync. */
  lastSyncAt(): number | undefined {
    return this.lastSync;
  }

  instances(service: string): readonly ServiceInstance[] {
    return this.views.get(service) ?? NONE;
  }

  services(): string[] {
    return [...this.views.keys()];
  }

  onChange(listener: (service: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Re-reads everything now; resolves whether it succeeded. Concurrent calls share one read. */
  resync(): Promise<boolean> {
    this.syncing ??= this.syncOnce().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      await this.resync();
      this.schedule();
    }, this.resyncIntervalMs);
    this.timer.unref();
  }

  private async syncOnce(): Promise<boolean> {
    try {
      const listed = await this.registry.services();
      // Also re-read services we know but the registry no longer lists, so their view empties.
      const names = [...new Set([...listed, ...this.views.keys()])];
      const before = names.map((s) => this.generations.get(s) ?? 0);
      const results = await Promise.allSettled(names.map((s) => this.registry.instances(s)));
      let failure: unknown;
      results.forEach((result, i) => {
        const service = names[i] as string;
        if (result.status === 'rejected') {
          failure ??= result.reason;
          return; // keep this service's last good view
        }
        if ((this.generations.get(service) ?? 0) !== before[i]) return; // an event is newer than this read
        this.replace(service, result.value, listed.includes(service));
      });
      if (failure !== undefined) throw failure;
      this.synced = true;
      this.lastSync = this.clock.now();
      if (this.failing) {
        this.failing = false;
        this.logger?.info({}, 'discovery: registry reachable again, view resynced');
      }
      return true;
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        this.logger?.warn({ err }, 'discovery: registry unreachable, serving the last known view');
      }
      return false;
    }
  }

  private apply(event: RegistryEvent): void {
    if (this.stopped) return;
    const { service } = event;
    this.generations.set(service, (this.generations.get(service) ?? 0) + 1);
    const current = this.views.get(service) ?? NONE;
    this.vanishedSince.delete(service);
    if (event.type === 'up') {
      if (event.instance.service !== service) return;
      const next = [...current.filter((i) => i.id !== event.id), event.instance];
      this.set(service, next);
    } else if (current.some((i) => i.id === event.id)) {
      this.set(service, current.filter((i) => i.id !== event.id));
    }
  }

  /** A resync's answer for one service. */
  private replace(service: string, found: ServiceInstance[], listed: boolean): void {
    const list = found.filter((i) => i.service === service);
    if (list.length === 0 && !listed) {
      const had = this.views.get(service);
      if (had === undefined) return;
      if (had.length > 0 && this.stillInGrace(service)) return;
      this.vanishedSince.delete(service);
      this.views.delete(service);
      if (had.length > 0) this.emit(service);
      return;
    }
    this.vanishedSince.delete(service);
    this.set(service, list);
  }

  /**
   * A service with instances vanished from the registry's list with no `down` event: a flushed
   * or restarted registry, not instances that died (those expire one by one, listed). Keep the
   * last good view until the grace ends, so callers route on while the instances re-register.
   */
  private stillInGrace(service: string): boolean {
    const now = this.clock.now();
    const since = this.vanishedSince.get(service);
    if (since === undefined) {
      this.vanishedSince.set(service, now);
      this.logger?.warn({ service }, 'discovery: the registry forgot a service without a word; serving its last view for a while');
      return this.vanishGraceMs > 0;
    }
    return now - since < this.vanishGraceMs;
  }

  /** Stores a service's list and tells listeners, unless nothing that routing depends on changed. */
  private set(service: string, list: readonly ServiceInstance[]): void {
    const had = this.views.get(service);
    if (had !== undefined && signature(had) === signature(list)) return;
    this.views.set(service, Object.freeze([...list]));
    if (had !== undefined || list.length > 0) this.emit(service);
  }

  private emit(service: string): void {
    for (const listener of this.listeners) {
      try {
        listener(service);
      } catch (err) {
        this.logger?.warn({ err, service }, 'discovery: onChange listener threw');
      }
    }
  }
}


/** What routing depends on; heartbeat stamps are left out so identical resyncs stay silent. */
function signature(list: readonly ServiceInstance[]): string {
  return JSON.stringify(
    [...list]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((i) => [i.id, i.status, i.host, i.port, i.weight, i.version, i.tags, i.meta]),
  );
}
