import { type Clock, systemClock } from '../../clock.js';
import { type ConnectionOwner, UpstreamConnection } from './connection.js';
import { http1Error, http1ErrorCodes } from './errors.js';
import { Exchange, type ExchangeListener, type ExchangeRequest, type Queue } from './exchange.js';
import { requestHead } from './request-head.js';

export interface UpstreamPoolOptions {
  /** Connections at most; further exchanges wait, first come first served. */
  connections: number;
  connectTimeoutMs: number;
  /** How long an idle connection is kept when the upstream gives no `Keep-Alive: timeout` (undici's default). */
  defaultIdleMs?: number;
  /** How often stalled exchanges and expired idle connections are looked for. */
  sweepEveryMs?: number;
  clock?: Clock;
}

/**
 * Keep-alive HTTP/1.1 connections to one upstream (host and port), one exchange on each at a time,
 * the most recently used idle one first (the others age out). The gateway's path to its services,
 * written for it: one request head string, Node's own parser, no per-request timer — a sweep
 * about once a second fails exchanges whose answer stalled and closes connections idle longer
 * than the upstream keeps them.
 */
export class UpstreamPool implements ConnectionOwner, Queue {
  private readonly hostHeader: string;
  private readonly limit: number;
  private readonly connectTimeoutMs: number;
  private readonly defaultIdleMs: number;
  private readonly sweepEveryMs: number;
  private readonly clock: Clock;
  private readonly all = new Set<UpstreamConnection>();
  private readonly idle: UpstreamConnection[] = [];
  private waiting: Exchange[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private whenClosed: (() => void) | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    options: UpstreamPoolOptions,
  ) {
    this.hostHeader = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.limit = Math.max(1, Math.floor(options.connections));
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.defaultIdleMs = options.defaultIdleMs ?? 4000;
    this.sweepEveryMs = options.sweepEveryMs ?? 1000;
    this.clock = options.clock ?? systemClock;
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.all.size;
  }

  /**
   * Sends `request` on an idle connection, a new one, or when one frees up. Never throws: a
   * request that cannot be written, or a closed pool, fails the exchange after this returns.
   */
  exchange(request: ExchangeRequest, listener: ExchangeListener): Exchange {
    let prepared: { head: string; declaredLength: number | undefined };
    try {
      if (this.closing) throw http1Error(http1ErrorCodes.POOL_CLOSED, `the pool to ${this.hostHeader} is closed`);
      prepared = requestHead(
        request.method,
        request.path,
        this.hostHeader,
        request.headers,
        bodyLength(request.body),
        request.headersChecked === true,
      );
    } catch (err) {
      const refused = new Exchange(request, '', undefined, listener, this);
      queueMicrotask(() => refused.fail(err as Error));
      return refused;
    }
    const exchange = new Exchange(request, prepared.head, prepared.declaredLength, listener, this);
    const connection = this.idle.pop() ?? (this.all.size < this.limit ? this.open() : undefined);
    if (connection) connection.send(exchange);
    else this.waiting.push(exchange);
    return exchange;
  }

  unqueue(exchange: Exchange): void {
    const at = this.waiting.indexOf(exchange);
    if (at >= 0) this.waiting.splice(at, 1);
  }

  released(connection: UpstreamConnection): void {
    const next = this.waiting.shift();
    if (next) return connection.send(next);
    if (this.closing) return connection.close();
    connection.idleSince = this.clock.now();
    this.idle.push(connection);
  }

  closed(connection: UpstreamConnection, neverConnected: boolean): void {
    this.all.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    if (neverConnected && this.waiting.length > 0) {
      // The upstream cannot be reached: those waiting would fail the same way, one by one.
      const waiting = this.waiting;
      this.waiting = [];
      const err = http1Error(http1ErrorCodes.UNREACHABLE, `no connection to ${this.hostHeader} could be made`);
      for (const exchange of waiting) exchange.fail(err);
    }
    const next = this.waiting.shift();
    if (next) this.open().send(next);
    if (this.all.size === 0) this.stopSweeping();
  }

  /**
   * Refuses new exchanges, lets those sent or waiting finish, closes every connection; resolves
   * when all are closed.
   */
  close(): Promise<void> {
    this.closing = true;
    for (const connection of this.idle.splice(0)) connection.close();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.whenClosed;
      this.whenClosed = () => {
        before?.();
        resolve();
      };
    });
  }

  private open(): UpstreamConnection {
    const connection = new UpstreamConnection(this, {
      host: this.host,
      port: this.port,
      connectTimeoutMs: this.connectTimeoutMs,
      defaultIdleMs: this.defaultIdleMs,
    });
    this.all.add(connection);
    this.sweeper ??= setInterval(() => this.sweep(), this.sweepEveryMs).unref();
    return connection;
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const done = this.whenClosed;
    this.whenClosed = undefined;
    done?.();
  }

  /** Fails exchanges whose answer stalled; closes connections idle longer than they are kept. */
  sweep(): void {
    const now = this.clock.now();
    for (const connection of this.all) {
      const exchange = connection.exchange;
      if (exchange === undefined) continue;
      if (exchange.paused || exchange.progress !== exchange.seenProgress) {
        exchange.seenProgress = exchange.progress;
        exchange.seenAt = now;
      } else if (now - exchange.seenAt >= exchange.request.timeoutMs) {
        exchange.abort(
          http1Error(
            http1ErrorCodes.ANSWER_TIMEOUT,
            `no answer from ${this.hostHeader} for ${Math.round(now - exchange.seenAt)} ms`,
          ),
        );
      }
    }
    // Oldest first: the stack's bottom.
    for (const connection of this.idle.slice()) {
      if (now - connection.idleSince >= connection.keepIdleMs) connection.close();
    }
  }
}

/** Bytes of a buffered body; `null` for none, `undefined` for a stream (its length is not known). */
function bodyLength(body: ExchangeRequest['body']): number | null | undefined {
  if (body === null) return null;
  if (typeof body === 'string') return Buffer.byteLength(body);
  return Buffer.isBuffer(body) ? body.length : undefined;
}
