import type { ServiceSnapshot } from '@meshkit/toolkit/core';
import type { AttemptStats } from './attempt-stats.js';
import type { DashboardRequest, DashboardView } from './wire.js';

/** Milliseconds to two decimals; null stays null. */
function ms(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value * 100) / 100;
}

/** `host:port`, with an IPv6 host in brackets. */
export function address(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The dashboard's picture: the client's view of every service (status, breaker, in-flight,
 * ejection) joined with each instance's figures over the window, in `/registry`'s stable order
 * (services by name, instances by address).
 */
export function dashboardView(
  snapshot: readonly ServiceSnapshot[],
  stats: AttemptStats,
  recent: DashboardRequest[],
  at: number,
): DashboardView {
  const services = snapshot.map((s) => ({
    name: s.name,
    instances: [...s.instances]
      .sort(
        (a, b) =>
          a.instance.host.localeCompare(b.instance.host) ||
          a.instance.port - b.instance.port ||
          a.instance.id.localeCompare(b.instance.id),
      )
      .map(({ instance: i, circuit, inFlight, ejected }) => {
        const w = stats.read(i.id);
        return {
          id: i.id,
          address: address(i.host, i.port),
          version: i.version,
          status: i.status,
          circuit,
          in_flight: inFlight,
          ejected,
          pid: i.meta.pid ?? null,
          requests: w.requests,
          req_per_s: Math.round(w.perSecond * 100) / 100,
          p50_ms: ms(w.p50Ms),
          p99_ms: ms(w.p99Ms),
          error_rate: w.errorRate === undefined ? null : Math.round(w.errorRate * 10_000) / 10_000,
        };
      }),
  }));
  return {
    at,
    window_s: stats.windowSeconds,
    services: services.sort((a, b) => a.name.localeCompare(b.name)),
    recent,
  };
}
