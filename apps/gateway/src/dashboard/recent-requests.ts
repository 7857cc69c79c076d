import { urlPath } from '@meshkit/toolkit/core';
import type { DashboardRequest } from './wire.js';

/**
 * The last `capacity` proxied requests, in parallel arrays allocated once: adding one overwrites
 * the oldest and allocates nothing (the strings are the request's own).
 */
export class RecentRequests {
  private readonly ids: string[];
  private readonly methods: string[];
  private readonly paths: string[];
  private readonly services: string[];
  private readonly instances: (string | null)[];
  private readonly statuses: Uint16Array;
  private readonly durations: Float64Array;
  private readonly ats: Float64Array;
  /** Where the next one goes. */
  private next = 0;
  private size = 0;

  constructor(readonly capacity = 50) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a positive integer, got ${capacity}`);
    this.ids = new Array<string>(capacity).fill('');
    this.methods = new Array<string>(capacity).fill('');
    this.paths = new Array<string>(capacity).fill('');
    this.services = new Array<string>(capacity).fill('');
    this.instances = new Array<string | null>(capacity).fill(null);
    this.statuses = new Uint16Array(capacity);
    this.durations = new Float64Array(capacity);
    this.ats = new Float64Array(capacity);
  }

  /** `url` may carry a query string: only its path is kept (queries may hold what a screen should not show). */
  add(
    requestId: string,
    method: string,
    url: string,
    status: number,
    durationMs: number,
    service: string,
    instance: string | undefined,
    at: number,
  ): void {
    const i = this.next;
    this.ids[i] = requestId;
    this.methods[i] = method;
    this.paths[i] = urlPath(url);
    this.statuses[i] = status;
    this.durations[i] = durationMs;
    this.services[i] = service;
    this.instances[i] = instance ?? null;
    this.ats[i] = at;
    this.next = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size += 1;
  }

  /** Newest first. */
  list(): DashboardRequest[] {
    const out: DashboardRequest[] = [];
    for (let k = 1; k <= this.size; k++) {
      const i = (this.next - k + this.capacity) % this.capacity;
      out.push({
        request_id: this.ids[i] ?? '',
        at: this.ats[i] ?? 0,
        method: this.methods[i] ?? '',
        path: this.paths[i] ?? '',
        status: this.statuses[i] ?? 0,
        duration_ms: Math.round((this.durations[i] ?? 0) * 100) / 100,
        service: this.services[i] ?? '',
        instance: this.instances[i] ?? null,
      });
    }
    return out;
  }
}
