import type { Readable } from 'node:stream';
import type { RawHeaders } from '../../wire/raw-headers.js';

/** What one HTTP exchange tells whoever started it, in order: headers, data…, then complete or error. */
export interface ExchangeListener {
  /** The response head, as read; false pauses reading until `resume()`. */
  headers(status: number, headers: RawHeaders): boolean;
  /** A body chunk; false pauses reading until `resume()`. */
  data(chunk: Buffer): boolean;
  complete(): void;
  /** The exchange failed: before the head, or while the body came. */
  error(err: Error): void;
}

/** One request to send on an upstream connection. */
export interface ExchangeRequest {
  method: string;
  /** Path with query string. */
  path: string;
  /** Flat `[name, value, …]`. */
  headers: readonly string[];
  /**
   * Every header name is already known to be a token and every value free of the characters a
   * field value may not hold (read by llhttp, which refuses those, or made so): they are not
   * checked again. The framing rules (`host`, `content-length`, hop-by-hop names) still are.
   */
  headersChecked?: boolean;
  body: Buffer | string | Readable | null;
  /**
   * The exchange fails when no byte of the answer came for this long while it was on a
   * connection (paused reading aside). Checked by the pool about once a second: a bound on a
   * stalled body, not a precise timer (the caller keeps its own for the headers).
   */
  timeoutMs: number;
}

/** What an exchange needs of the connection carrying it. */
export interface Carrier {
  destroy(reason: Error): void;
  readOn(): void;
}

/** What an exchange needs of its pool while it waits there. */
export interface Queue {
  unqueue(exchange: Exchange): void;
}

/**
 * One request and its answer's progress: told to its listener exactly once as complete or
 * failed. Abortable at any time: waiting in the pool, it leaves the queue; on a connection, the
 * connection is destroyed (the upstream may be mid-answer, the connection cannot be reused).
 */
export class Exchange {
  /** The connection carrying it, while one does. */
  carrier: Carrier | undefined;
  /** Answer events so far; the pool's sweep tells a stalled exchange by it. */
  progress = 0;
  /** What the sweep saw last, and since when (clock ms). */
  seenProgress = -1;
  seenAt = 0;
  /** The listener asked to stop reading. */
  paused = false;
  private over = false;

  constructor(
    readonly request: ExchangeRequest,
    /** The request line and headers (`requestHead`); empty when the request was refused. */
    readonly head: string,
    /** The content-length a streamed body declared. */
    readonly declaredLength: number | undefined,
    private readonly listener: ExchangeListener,
    private readonly queue: Queue,
  ) {}

  abort(reason: Error): void {
    if (this.over) return;
    if (this.carrier) return this.carrier.destroy(reason);
    this.queue.unqueue(this);
    this.fail(reason);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.carrier?.readOn();
  }

  headers(status: number, headers: RawHeaders): boolean {
    this.progress += 1;
    if (this.listener.headers(status, headers)) return true;
    this.paused = true;
    return false;
  }

  data(chunk: Buffer): boolean {
    this.progress += 1;
    if (this.listener.data(chunk)) return true;
    this.paused = true;
    return false;
  }

  complete(): void {
    if (this.over) return;
    this.over = true;
    this.carrier = undefined;
    this.listener.complete();
  }

  fail(err: Error): void {
    if (this.over) return;
    this.over = true;
    this.carrier = undefined;
    this.listener.error(err);
  }
}
