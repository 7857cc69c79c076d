import { Redis } from 'ioredis';
import { type Clock, systemClock } from '../clock.js';
import { MeshError } from '../errors.js';
import type { InstanceRegistration, ServiceInstance } from './instance.js';
import {
  DEFAULT_TTL_MS,
  isInstance,
  leaseMs,
  parseRegistryEvent,
  type RegistryLogger,
  toInstance,
} from './registration.js';
import type { RegisterOptions, Registry, RegistryEvent, RegistryListener } from './registry.js';

export interface RedisRegistryOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** Namespace of every key and of the change channel. Default `meshkit:`. */
  prefix?: string;
  logger?: RegistryLogger;
  /** A command (or waiting for the first connection) fails after this long. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Stamps `registeredAt`/`lastHeartbeat` (display only: leases expire on the Redis server). */
  clock?: Clock;
  /** Shown in `CLIENT LIST`; the change-feed connection gets `<name>:changes`. Default `meshkit-registry`. */
  connectionName?: string;
}

interface Held {
  instance: ServiceInstance;
  ttlMs: number;
}

/**
 * Drops ids whose lease key expired from a service's set, announcing each `down` once, and
 * forgets the service name when no instance is left. One script, so a re-registration racing
 * with the cleanup is never dropped: an id is removed only while its key does not exist.
 * KEYS: service set, services set, instance keys…; ARGV: service, channel, ids… (aligned with KEYS).
 */
const PRUNE = `
local removed = 0
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 and redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    removed = removed + 1
    redis.call('PUBLISH', ARGV[2], cjson.encode({type = 'down', service = ARGV[1], id = ARGV[i]}))
  end
end
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return removed
`;

/**
 * A registry in Redis. Leases expire on the server (`SET … PX`), so no host clock is compared;
 * lookups read one service's id set and its keys (no `KEYS`/`SCAN`); changes are published on
 * `<prefix>changes`. While Redis is unreachable every call fails fast instead of queueing.
 *
 * Keys: `<prefix>instance:<id>` (instance JSON, with the lease), `<prefix>service:<name>` (set
 * of ids), `<prefix>services` (set of names).
 */
export class RedisRegistry implements Registry {
  readonly kind = 'redis';
  private readonly prefix: string;
  private readonly logger?: RegistryLogger;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly connectionName: string;
  private readonly client: Redis;
  private subscriber?: Redis;
  /** Settles once the change feed's SUBSCRIBE was answered (or failed). */
  private subscribed?: Promise<void>;
  private readonly listeners = new Set<RegistryListener>();
  /** What this client registered: heartbeats rewrite it with a new lease. */
  private readonly held = new Map<string, Held>();
  /** Set after a connection error, cleared on `ready`: calls then fail at once, not after a wait. */
  private clientDown = false;
  private readyWait?: Promise<void>;
  private closed = false;

  constructor(options: RedisRegistryOptions) {
    this.prefix = options.prefix ?? 'meshkit:';
    this.logger = options.logger;
    this.timeoutMs = options.commandTimeoutMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    this.connectionName = options.connectionName ?? 'meshkit-registry';
    this.client = new Redis(options.url, {
      connectionName: this.connectionName,
      enableOfflineQueue: false,
      commandTimeout: this.timeoutMs,
      connectTimeout: Math.max(this.timeoutMs, 2000),
      maxRetriesPerRequest: 1,
      // Forever, backing off to 2 s, so a Redis that comes back is used again within seconds.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000) + Math.floor(Math.random() * 100),
    });
    this.monitor(this.client, 'commands', (down) => {
      this.clientDown = down;
    });
  }

  private get channel(): string {
    return `${this.prefix}changes`;
  }
  private instanceKey(id: string): string {
    return `${this.prefix}instance:${id}`;
  }
  private serviceKey(service: string): string {
    return `${this.prefix}service:${service}`;
  }
  private get servicesKey(): string {
    return `${this.prefix}services`;
  }

  async register(registration: InstanceRegistration, options: RegisterOptions = {}): Promise<void> {
    const ttlMs = leaseMs(options.ttlMs);
    const previous = this.held.get(registration.id)?.instance;
    const instance = toInstance(registration, this.clock.now(), previous);
    const up: RegistryEvent = { type: 'up', service: instance.service, id: instance.id, instance };
    // Before sending: a heartbeat issued from now on rewrites this copy, not the one it replaces.
    this.held.set(instance.id, { instance, ttlMs });
    await this.run('register', () => {
      const tx = this.client.multi();
      if (previous && previous.service !== instance.service) {
        tx.srem(this.serviceKey(previous.service), instance.id);
        tx.publish(this.channel, JSON.stringify({ type: 'down', service: previous.service, id: instance.id }));
      }
      return tx
        .set(this.instanceKey(instance.id), JSON.stringify(instance), 'PX', ttlMs)
        .sadd(this.serviceKey(instance.service), instance.id)
        .sadd(this.servicesKey, instance.service)
        .publish(this.channel, JSON.stringify(up))
        .exec()
        .then(checkExec);
    });
  }

  async deregister(id: string): Promise<void> {
    const held = this.held.get(id);
    this.held.delete(id);
    await this.run('deregister', async () => {
      // Another client's instance: its key says which service it is in (if it is still alive).
      const service = held?.instance.service ?? readInstance(await this.client.get(this.instanceKey(id)))?.service;
      if (service === undefined) {
        await this.client.del(this.instanceKey(id));
        return;
      }
      await this.client
        .multi()
        .del(this.instanceKey(id))
        .srem(this.serviceKey(service), id)
        .eval(PRUNE, 2, this.serviceKey(service), this.servicesKey, service, this.channel)
        .publish(this.channel, JSON.stringify({ type: 'down', service, id }))
        .exec()
        .then(checkExec);
    });
  }

  async heartbeat(id: string): Promise<boolean> {
    return this.run('heartbeat', async () => {
      const key = this.instanceKey(id);
      const own = this.held.get(id);
      // XX: only while the lease exists; once it expired (or Redis lost it) the caller re-registers.
      if (!own) {
        // Not registered through this client: renew what is stored, with the default lease.
        const stored = readInstance(await this.client.get(key));
        if (!stored) return false;
        const renewed = { ...stored, lastHeartbeat: this.clock.now() };
        return (await this.client.set(key, JSON.stringify(renewed), 'PX', DEFAULT_TTL_MS, 'XX')) !== null;
      }
      const next: Held = { instance: { ...own.instance, lastHeartbeat: this.clock.now() }, ttlMs: own.ttlMs };
      this.held.set(id, next);
      const ok = await this.client.set(key, JSON.stringify(next.instance), 'PX', next.ttlMs, 'XX');
      // Forget a lost lease, unless a register() replaced our copy meanwhile.
      if (ok === null && this.held.get(id) === next) this.held.delete(id);
      return ok !== null;
    });
  }

  async instances(service: string): Promise<ServiceInstance[]> {
    return this.run('instances', async () => {
      const ids = await this.client.smembers(this.serviceKey(service));
      const values = ids.length === 0 ? [] : await this.client.mget(ids.map((id) => this.instanceKey(id)));
      const found: ServiceInstance[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const instance = readInstance(values[i] ?? null);
        if (instance && instance.service === service) found.push(instance);
        else if (values[i] == null) gone.push(id);
      });
      if (gone.length > 0 || ids.length === 0) {
        await this.client.eval(
          PRUNE,
          2 + gone.length,
          this.serviceKey(service),
          this.servicesKey,
          ...gone.map((id) => this.instanceKey(id)),
          service,
          this.channel,
          ...gone,
        );
      }
      return found;
    });
  }

  async services(): Promise<string[]> {
    return this.run('services', () => this.client.smembers(this.servicesKey));
  }

  watch(listener: RegistryListener): () => void {
    if (this.closed) return () => {};
    this.listeners.add(listener);
    this.subscriber ??= this.subscribe();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Resolves once the change feed is live, or after the command timeout (never rejects):
   * a watcher that then reads a full view misses no change in between.
   */
  async watchReady(): Promise<void> {
    if (!this.subscribed) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs);
    });
    await Promise.race([this.subscribed, timeout]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all([quit(this.client), this.subscriber ? quit(this.subscriber) : undefined]);
  }

  /** The change feed: its own connection, which queues its SUBSCRIBE until Redis answers and resubscribes after a reconnect. */
  private subscribe(): Redis {
    const sub = this.client.duplicate({
      connectionName: `${this.connectionName}:changes`,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.monitor(sub, 'changes feed', () => {});
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const event = parseRegistryEvent(message);
      if (!event) return; // not ours, or garbled: the periodic resync covers it
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          this.logger?.warn({ err, event }, 'registry listener threw');
        }
      }
    });
    this.subscribed = sub.subscribe(this.channel).then(
      () => {},
      (err: unknown) => {
        if (!this.closed) this.logger?.warn({ err }, 'registry: cannot subscribe to the change feed');
      },
    );
    return sub;
  }

  /** Logs an outage once when it starts and once when it ends; never lets an `error` event go unhandled. */
  private monitor(conn: Redis, what: string, onState: (down: boolean) => void): void {
    let down = false;
    conn.on('error', (err: Error) => {
      onState(true);
      if (down || this.closed) return;
      down = true;
      this.logger?.warn({ err: { message: err.message }, what }, 'registry: Redis unreachable, retrying in the background');
    });
    conn.on('ready', () => {
      onState(false);
      if (!down) return;
      down = false;
      this.logger?.info({ what }, 'registry: Redis reachable again');
    });
  }

  /** Runs one operation: fails at once while Redis is known down, waits (bounded) for a first connection. */
  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new MeshError('UPSTREAM_FAILED', `registry ${op}: registry closed`);
    try {
      if (this.client.status !== 'ready') {
        if (this.clientDown) throw new Error(`Redis unreachable (${this.client.status})`);
        await this.untilReady();
      }
      return await fn();
    } catch (err) {
      if (err instanceof MeshError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new MeshError('UPSTREAM_FAILED', `registry ${op}: ${message}`, { cause: err });
    }
  }

  /** One shared wait per connection attempt (not one listener pair per pending call). */
  private untilReady(): Promise<void> {
    this.readyWait ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        this.readyWait = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (err: Error) => done(err);
      const timer = setTimeout(() => done(new Error(`Redis not ready after ${this.timeoutMs} ms`)), this.timeoutMs);
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
    return this.readyWait;
  }
}

function readInstance(text: string | null): ServiceInstance | undefined {
  if (text === null) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isInstance(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A MULTI's exec resolves with per-command errors inside; surface the first. */
function checkExec(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('transaction aborted');
  for (const [err] of results) if (err) throw err;
}

async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'end') return;
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  try {
    await conn.quit();
  } catch {
    conn.disconnect();
  }
}
