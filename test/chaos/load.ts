import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

/** One request the load generator sent, as the client saw it. */
export interface Sample {
  /** Its `x-request-id` (unique per request). */
  id: string;
  kind: 'get' | 'order';
  /** When it was sent: ms since the load started. */
  at: number;
  /** Until the whole answer was read, or until the error. */
  latencyMs: number;
  /** 0: no HTTP answer (a network error or the client's own timeout). */
  status: number;
  error?: string;
  retryAfter?: string;
  contentType?: string;
  /** The `x-meshkit-fault` header: a fault a service (SERVICE_FAULTS) injected into this answer. */
  fault?: string;
  /** The start of the body of a 5xx answer (a problem's `detail`, usually). */
  body?: string;
  /** False while the request is still out. */
  done: boolean;
}

export interface LoadOptions {
  /** The gateway. */
  url: string;
  /** Requests per second, sent on schedule whatever the answers take (open loop). Default 150. */
  rate?: number;
  /** Share of `POST /orders` (1 unit, its own `Idempotency-Key`); the rest `GET /products/:id`. Default 1/3. */
  orderShare?: number;
  productId: string;
  userId: string;
  /** Prefix of every request id, naming the scenario: `chaos-<scenario>-`. */
  idPrefix: string;
  /** The client gives up on a request after this long (it then counts as failed). Default 10 s. */
  timeoutMs?: number;
}

/** A failure as the issue counts it: a 5xx or no answer. 4xx answers are answers. */
export function failed(s: Sample): boolean {
  return s.done && (s.status === 0 || s.status >= 500);
}

/**
 * A steady in-process load on the gateway: `rate` requests a second on a fixed schedule (a slow
 * or hanging answer never delays the next request), each recorded with its start, latency,
 * status and error.
 */
export class LoadGenerator {
  readonly samples: Sample[] = [];
  private readonly pool: Pool;
  private readonly rate: number;
  private readonly orderShare: number;
  private readonly timeoutMs: number;
  private readonly t0 = performance.now();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<Sample[]> | undefined;
  private sent = 0;

  constructor(private readonly options: LoadOptions) {
    this.rate = options.rate ?? 150;
    this.orderShare = options.orderShare ?? 1 / 3;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.pool = new Pool(options.url, { connections: 256, keepAliveTimeout: 30_000 });
  }

  static start(options: LoadOptions): LoadGenerator {
    const load = new LoadGenerator(options);
    load.timer = setInterval(() => load.tick(), 5);
    return load;
  }

  /** ms since the load started: the time base of every sample. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** Stops sending, waits for the answers still due (at most the client timeout) and returns every sample. Idempotent. */
  stop(): Promise<Sample[]> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      this.timer = undefined;
      await Promise.all([...this.inFlight]);
      await this.pool.close();
      return this.samples;
    })();
    return this.stopping;
  }

  private tick(): void {
    const due = Math.floor((this.now() * this.rate) / 1000);
    // After a long stall, catch up in bounded bursts rather than all at once.
    for (let n = 0; this.sent < due && n < 100; n++) this.fire();
  }

  private fire(): void {
    const n = this.sent++;
    const isOrder = Math.floor((n + 1) * this.orderShare) > Math.floor(n * this.orderShare);
    const done = this.send(n, isOrder ? 'order' : 'get').finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private async send(n: number, kind: Sample['kind']): Promise<void> {
    const { productId, userId, idPrefix } = this.options;
    const id = `${idPrefix}${n}`;
    const at = this.now();
    const sample: Sample = { id, kind, at, latencyMs: 0, status: 0, done: false };
    this.samples.push(sample);
    const headers: Record<string, string> = { 'x-request-id': id };
    let body: string | undefined;
    if (kind === 'order') {
      headers['content-type'] = 'application/json';
      headers['idempotency-key'] = randomUUID();
      body = JSON.stringify({ user_id: userId, items: [{ product_id: productId, quantity: 1 }] });
    }
    try {
      const res = await this.pool.request({
        method: kind === 'order' ? 'POST' : 'GET',
        path: kind === 'order' ? '/orders' : `/products/${productId}`,
        headers,
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.body.text();
      sample.status = res.statusCode;
      const retryAfter = res.headers['retry-after'];
      if (typeof retryAfter === 'string') sample.retryAfter = retryAfter;
      const type = res.headers['content-type'];
      if (typeof type === 'string') sample.contentType = type;
      const fault = res.headers['x-meshkit-fault'];
      if (typeof fault === 'string') sample.fault = fault;
      if (res.statusCode >= 500) sample.body = text.slice(0, 300);
    } catch (err) {
      sample.status = 0;
      sample.error = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
    sample.latencyMs = this.now() - at;
    sample.done = true;
  }

  /**
   * Waits until no request has failed for `quietMs` (and `quietMs` have passed since `since`);
   * resolves with the ms from `since` to the end of the last failure (0: none after `since`), or
   * undefined when failures go on past `timeoutMs`.
   */
  async quiet(since: number, quietMs: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      const lastFailureEnd = this.samples
        .filter((x) => failed(x) && x.at + x.latencyMs >= since)
        .reduce((end, x) => Math.max(end, x.at + x.latencyMs), since);
      if (this.now() - lastFailureEnd >= quietMs) return lastFailureEnd - since;
      if (this.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
