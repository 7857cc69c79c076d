import type { ServerResponse } from 'node:http';

export interface EventStreamOptions {
  /** The message every client gets, produced once per send (one JSON text). */
  produce: () => string;
  /** Between regular sends, ms. Default 1000. */
  intervalMs?: number;
  /** How long `nudge` waits to coalesce a burst of changes, ms. Default 50. */
  nudgeDelayMs?: number;
  /** Told when `produce` throws; that send is skipped (the stream lives on). */
  onError?: (err: unknown) => void;
}

/** A client that has not taken this much of what was sent is stuck: it is dropped. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * Server-sent events to every connected client: the same message to all, once a second while
 * anyone listens (no timer otherwise), and soon after a `nudge` (something changed). A client that
 * goes away is dropped; `close` ends every stream, so the server's close does not wait on them.
 */
export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly produce: () => string;
  private readonly intervalMs: number;
  private readonly nudgeDelayMs: number;
  private readonly onError: ((err: unknown) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nudged: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: EventStreamOptions) {
    this.produce = options.produce;
    this.intervalMs = options.intervalMs ?? 1000;
    this.nudgeDelayMs = options.nudgeDelayMs ?? 50;
    this.onError = options.onError;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response the caller has not written to: headers now, a first message at once. */
  attach(res: ServerResponse, headers: Record<string, string> = {}): void {
    if (this.closed) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('closing\n');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    // Reconnect after 1 s when the connection drops (the browser's default is 3 s).
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    res.once('close', () => this.detach(res));
    const message = this.message();
    if (message !== undefined) this.write(res, message);
    this.timer ??= setInterval(() => this.broadcast(), this.intervalMs).unref();
  }

  /** Sends soon, once for a burst of calls. */
  nudge(): void {
    if (this.closed || this.clients.size === 0 || this.nudged !== undefined) return;
    this.nudged = setTimeout(() => {
      this.nudged = undefined;
      this.broadcast();
    }, this.nudgeDelayMs).unref();
  }

  /** Ends every stream and refuses new ones. Idempotent. */
  close(): void {
    this.closed = true;
    this.stopTimers();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private broadcast(): void {
    if (this.clients.size === 0) return;
    const message = this.message();
    if (message === undefined) return;
    for (const res of this.clients) this.write(res, message);
  }

  private message(): string | undefined {
    try {
      return this.produce();
    } catch (err) {
      this.onError?.(err);
      return undefined;
    }
  }

  private write(res: ServerResponse, message: string): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    // One `data:` line: the JSON has no raw newlines.
    res.write(`data: ${message}\n\n`);
  }

  private detach(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stopTimers();
  }

  private stopTimers(): void {
    clearInterval(this.timer);
    clearTimeout(this.nudged);
    this.timer = undefined;
    this.nudged = undefined;
  }
}
