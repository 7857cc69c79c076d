import net from 'node:net';

/**
 * A TCP proxy for chaos tests, in the spirit of toxiproxy (which is not available here): it
 * listens on 127.0.0.1 and forwards every connection to a target, byte for byte, with faults
 * switchable while it runs.
 *
 * - `latency(ms, jitterMs)` and `slowBytes(bps)` shape the traffic of new and existing connections
 *   and combine with each other.
 * - `reset()` and `blackhole()` replace each other; they hit existing connections too. A connection
 *   once blackholed stays silent until its client gives up (its dropped bytes are gone, so it
 *   cannot carry on), even after `clear()`.
 * - `refuse()` stops listening and closes every connection, like a process that died;
 *   `restore()` listens again on the same port.
 * - `clear()` turns every fault off and listens again if refused.
 *
 * Time here is real time: the proxy delays real bytes with real timers.
 */

export interface FaultProxyTarget {
  host: string;
  port: number;
}

export interface FaultProxyOptions {
  /** Source of latency jitter, returning [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * Bytes held per direction before the proxy stops reading from the sender (backpressure). The
   * proxy's "window": with latency L it carries at most this many bytes per L. Default 1 MiB.
   */
  highWaterMark?: number;
}

export interface FaultProxyStats {
  /** Proxied connections still open (client side). */
  connections: number;
  /** Timers pending for delayed or throttled bytes. */
  timers: number;
  /** Bytes read and not yet written on, over all connections and directions. */
  bufferedBytes: number;
  listening: boolean;
}

type Mode = 'pass' | 'reset' | 'blackhole';

/** The fault settings every connection reads when it moves bytes. */
interface Shaping {
  latencyMs: number;
  jitterMs: number;
  /** Throttle of the response direction (target → client); undefined: unthrottled. */
  bytesPerSecond?: number;
}

/** Throttled bytes go out in this many pieces a second. */
const PIECES_PER_SECOND = 20;

const now = () => performance.now();
const ignore = () => {};

/** Sends an RST where the socket still has a connection to send it on; destroys it either way. */
function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}

/**
 * One direction of one connection: reads from `source`, holds each chunk until its release
 * time (in order), writes it to `dest` respecting `dest`'s backpressure, and ends `dest` once
 * `source` has ended and everything is written.
 */
class Lane {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private queued = 0;
  private throttleUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  private pausedSource = false;
  private sourceEnded = false;
  private dropped = false;

  constructor(
    private readonly source: net.Socket,
    private readonly dest: net.Socket,
    private readonly shaping: () => Shaping,
    private readonly throttled: boolean,
    private readonly random: () => number,
    private readonly highWaterMark: number,
  ) {
    source.on('data', (chunk: Buffer) => this.take(chunk));
    source.on('end', () => {
      this.sourceEnded = true;
      this.pump();
    });
  }

  /** Whether the source sent its FIN (a clean end, as opposed to a reset). */
  get ended(): boolean {
    return this.sourceEnded;
  }

  get buffered(): number {
    return this.queued;
  }

  get hasTimer(): boolean {
    return this.timer !== undefined;
  }

  /** Re-reads the shaping now (a throttle just lifted need not wait for its next piece). */
  kick(): void {
    this.throttleUntil = 0;
    this.pump();
  }

  /** Blackholed: what is held and what comes later is discarded; the source is read on. */
  drop(): void {
    this.stop();
    this.dropped = true;
    if (this.pausedSource) {
      this.pausedSource = false;
      this.source.resume();
    }
  }

  /** No more timers or writes; used when the connection goes away. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queued = 0;
  }

  private take(chunk: Buffer): void {
    if (this.dropped) return;
    const { latencyMs, jitterMs } = this.shaping();
    const delay = latencyMs + (jitterMs > 0 ? this.random() * jitterMs : 0);
    // One FIFO per direction: jitter never reorders the stream, a chunk due early waits its turn.
    this.queue.push({ chunk, at: now() + delay });
    this.queued += chunk.length;
    if (this.queued >= this.highWaterMark && !this.pausedSource) {
      this.pausedSource = true;
      this.source.pause();
    }
    this.pump();
  }

  private readonly pump = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.dropped) return;
    if (this.dest.destroyed || this.dest.writableEnded) {
      this.stop();
      return;
    }
    const bps = this.throttled ? this.shaping().bytesPerSecond : undefined;
    while (this.queue.length > 0 && !this.waitingDrain) {
      const head = this.queue[0];
      if (head === undefined) break;
      const t = now();
      const wait = Math.max(head.at, bps === undefined ? 0 : this.throttleUntil) - t;
      if (wait > 0) {
        this.timer = setTimeout(this.pump, Math.ceil(wait));
        return;
      }
      let piece = head.chunk;
      if (bps !== undefined && piece.length > Math.max(1, Math.floor(bps / PIECES_PER_SECOND))) {
        const size = Math.max(1, Math.floor(bps / PIECES_PER_SECOND));
        piece = head.chunk.subarray(0, size);
        head.chunk = head.chunk.subarray(size);
      } else {
        this.queue.shift();
      }
      this.queued -= piece.length;
      if (bps !== undefined) {
        // Paced against the ideal schedule, so late timers do not lower the average rate.
        this.throttleUntil = Math.max(this.throttleUntil, t) + (piece.length / bps) * 1000;
      }
      if (!this.dest.write(piece)) {
        this.waitingDrain = true;
        this.dest.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
    if (this.pausedSource && this.queued < this.highWaterMark && !this.waitingDrain) {
      this.pausedSource = false;
      this.source.resume();
    }
    if (this.queue.length === 0 && this.sourceEnded) this.dest.end();
  };
}

/** One accepted connection and, unless blackholed from the start, its connection to the target. */
class Link {
  private blackholed = false;
  private readonly lanes: Lane[] = [];
  private upstreamError: NodeJS.ErrnoException | undefined;

  constructor(
    readonly client: net.Socket,
    private readonly upstream: net.Socket | undefined,
    shaping: () => Shaping,
    options: Required<FaultProxyOptions>,
    onGone: (link: Link) => void,
  ) {
    client.setNoDelay(true);
    client.on('error', ignore);
    client.once('close', () => {
      // The client is gone (done or broken): nothing more can be delivered to it.
      this.stopLanes();
      if (this.upstream !== undefined && !this.upstream.destroyed) this.upstream.destroy();
      onGone(this);
    });
    if (upstream === undefined) {
      this.blackholed = true;
      client.resume();
      return;
    }
    upstream.setNoDelay(true);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      this.upstreamError = err;
    });
    const toUpstream = new Lane(client, upstream, shaping, false, options.random, options.highWaterMark);
    const toClient = new Lane(upstream, client, shaping, true, options.random, options.highWaterMark);
    this.lanes.push(toUpstream, toClient);
    upstream.once('close', () => {
      if (this.blackholed || toClient.ended) return; // a clean end reaches the client through its lane
      // Broken off (refused, reset, destroyed): the client sees it at once, as a reset if it was one.
      toClient.stop();
      if (this.upstreamError?.code === 'ECONNRESET') resetSocket(client);
      else client.destroy();
    });
  }

  get buffered(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.buffered, 0);
  }

  get timers(): number {
    return this.lanes.filter((lane) => lane.hasTimer).length;
  }

  kick(): void {
    for (const lane of this.lanes) lane.kick();
  }

  blackhole(): void {
    this.blackholed = true;
    for (const lane of this.lanes) lane.drop();
  }

  reset(): void {
    this.stopLanes();
    if (this.upstream !== undefined) resetSocket(this.upstream);
    resetSocket(this.client);
  }

  destroy(): void {
    this.stopLanes();
    this.upstream?.destroy();
    this.client.destroy();
  }

  private stopLanes(): void {
    for (const lane of this.lanes) lane.stop();
  }
}

export class FaultProxy {
  /** Starts a proxy to `target` on a free port of 127.0.0.1. */
  static async start(target: FaultProxyTarget, options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(target, options);
    await proxy.listen(0);
    return proxy;
  }

  readonly host = '127.0.0.1';
  private listenPort = 0;
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  private mode: Mode = 'pass';
  private shaping: Shaping = { latencyMs: 0, jitterMs: 0 };
  private readonly options: Required<FaultProxyOptions>;
  private closing: Promise<void> | undefined;
  private opening: Promise<void> | undefined;

  private constructor(
    readonly target: FaultProxyTarget,
    options: FaultProxyOptions,
  ) {
    this.options = { random: options.random ?? Math.random, highWaterMark: options.highWaterMark ?? 1024 * 1024 };
  }

  /** The port clients connect to; the same across refuse() and restore(). */
  get port(): number {
    return this.listenPort;
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `${this.host}:${this.listenPort}`;
  }

  /** Each chunk, in each direction, waits `ms` plus up to `jitterMs` (order kept). */
  latency(ms: number, jitterMs = 0): void {
    if (!(ms >= 0 && jitterMs >= 0 && Number.isFinite(ms + jitterMs))) {
      throw new RangeError(`latency needs finite ms >= 0 and jitterMs >= 0, got ${ms}, ${jitterMs}`);
    }
    this.shaping = { ...this.shaping, latencyMs: ms, jitterMs };
  }

  /** The response direction (target → client) carries at most `bytesPerSecond`. */
  slowBytes(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0 && Number.isFinite(bytesPerSecond))) {
      throw new RangeError(`slowBytes needs a finite rate > 0, got ${bytesPerSecond}`);
    }
    this.shaping = { ...this.shaping, bytesPerSecond };
    for (const link of this.links) link.kick();
  }

  /** New connections are accepted then reset (RST); existing ones are reset now. */
  reset(): void {
    this.mode = 'reset';
    for (const link of this.links) link.reset();
    this.links.clear();
  }

  /** New connections are accepted, read and never answered nor closed; existing ones go silent. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const link of this.links) link.blackhole();
  }

  /** Stops listening (connections are refused) and closes every open connection. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server && new Promise<void>((resolve) => server.close(() => resolve()));
    for (const link of this.links) link.destroy();
    this.links.clear();
    await closed;
  }

  /** Listens again, on the same port. */
  async restore(): Promise<void> {
    if (this.closing !== undefined) throw new Error('the fault proxy is closed');
    if (this.server !== undefined) return;
    // Two restores at once bind once.
    this.opening ??= this.listen(this.listenPort).finally(() => {
      this.opening = undefined;
    });
    await this.opening;
  }

  /** Every fault off: clean pass-through for new connections, listening again if refused. */
  async clear(): Promise<void> {
    this.mode = 'pass';
    this.shaping = { latencyMs: 0, jitterMs: 0 };
    for (const link of this.links) link.kick();
    await this.restore();
  }

  stats(): FaultProxyStats {
    let bufferedBytes = 0;
    let timers = 0;
    for (const link of this.links) {
      bufferedBytes += link.buffered;
      timers += link.timers;
    }
    return { connections: this.links.size, timers, bufferedBytes, listening: this.server !== undefined };
  }

  /** Stops listening and destroys every connection and timer. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.refuse();
    return this.closing;
  }

  private async listen(port: number): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: this.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', ignore);
    this.server = server;
    this.listenPort = (server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    if (this.mode === 'reset') {
      socket.on('error', ignore);
      resetSocket(socket);
      return;
    }
    const upstream =
      this.mode === 'blackhole'
        ? undefined
        : net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    const link = new Link(socket, upstream, () => this.shaping, this.options, (gone) => this.links.delete(gone));
    this.links.add(link);
  }
}
