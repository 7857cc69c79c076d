/**
 * What `/dashboard/snapshot` and each `/dashboard/events` message carry (snake_case on the wire,
 * like `/registry`). No imports: the browser UI type-checks against this file too.
 */

export type DashboardCircuit = 'closed' | 'open' | 'half_open';
export type DashboardInstanceStatus = 'starting' | 'healthy' | 'draining';

export interface DashboardInstance {
  id: string;
  /** `host:port` (`[v6]:port`), as the gateway calls it. */
  address: string;
  version: string;
  status: DashboardInstanceStatus;
  circuit: DashboardCircuit;
  in_flight: number;
  /** Ejected by outlier detection right now. */
  ejected: boolean;
  /** The instance's process id, when it registered one (`meta.pid`). */
  pid: string | null;
  /** Attempts that ended within the window (retries included). */
  requests: number;
  req_per_s: number;
  /** Latency percentiles over the window, ms; null without attempts. */
  p50_ms: number | null;
  p99_ms: number | null;
  /** Share of the window's attempts that failed (no status or a 5xx), 0–1; null without attempts. */
  error_rate: number | null;
}

export interface DashboardService {
  name: string;
  instances: DashboardInstance[];
}

export interface DashboardRequest {
  request_id: string;
  /** When the response ended, epoch ms. */
  at: number;
  method: string;
  /** Without the query string. */
  path: string;
  status: number;
  duration_ms: number;
  service: string;
  /** The instance that answered; null when none did (no healthy instance, every attempt failed). */
  instance: string | null;
}

export interface DashboardView {
  /** When the view was taken, epoch ms. */
  at: number;
  /** The window of the rates and percentiles, seconds. */
  window_s: number;
  services: DashboardService[];
  /** Newest first. */
  recent: DashboardRequest[];
}
