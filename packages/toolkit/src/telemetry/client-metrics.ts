import { Counter, Gauge, type Registry } from 'prom-client';
import { type LabelValue, SeriesIndex, SeriesMetric } from './labelled-series.js';
import { DURATION_BUCKETS_SECONDS } from './metrics.js';
import type { ServiceClientStats, UpstreamAttempt } from '../client/service-client.js';
import type { CircuitStateName, ServiceSnapshot } from '../client/upstream.js';
import type { InstanceSource } from '../discovery/instance-source.js';
import type { InstanceStatus } from '../registry/instance.js';

/** What the scrape-time series read from a client: its view, and its counters when it has them. */
export interface ClientMetricsSource {
  snapshot(): ServiceSnapshot[];
  stats?(): ServiceClientStats[];
}

const CIRCUIT_STATES: readonly CircuitStateName[] = ['closed', 'open', 'half_open'];
const INSTANCE_STATUSES: readonly InstanceStatus[] = ['starting', 'healthy', 'draining'];

/** `2xx`…`5xx` by status, `error` when no status came. */
export function statusClass(status: number | undefined): string {
  return status === undefined ? 'error' : `${Math.floor(status / 100)}xx`;
}

/**
 * Per-attempt series of a ServiceClient, fed by its `onAttempt` hook: build this first, give
 * `onAttempt` to the client, then `registerClientMetrics(registry, client, this)` once the
 * registry exists. `meshkit_upstream_requests_total{service,instance,status_class}` counts
 * attempts (retries included); `meshkit_upstream_request_duration_seconds{service,instance}`
 * times them to the end of the response body.
 */
export class UpstreamMetrics {
  private readonly attempts = new SeriesIndex(['service', 'instance', 'status_class']);
  private readonly durations = new SeriesIndex(['service', 'instance'], DURATION_BUCKETS_SECONDS);

  /** For `ServiceClientOptions.onAttempt`. */
  readonly onAttempt = (attempt: UpstreamAttempt): void => {
    const service = attempt.service;
    const instance = attempt.instance.id;
    this.attempts.observe(0, service, instance, statusClass(attempt.status));
    this.durations.observe(attempt.durationMs / 1000, service, instance);
  };

  /** Adds both series to `registry` (a metric may be in several registries). */
  register(registry: Registry): void {
    new SeriesMetric(
      'meshkit_upstream_requests_total',
      'Attempts sent to an upstream instance (retries included), by status class (error: no status)',
      'counter',
      this.attempts,
    ).register(registry);
    new SeriesMetric(
      'meshkit_upstream_request_duration_seconds',
      'Time of an attempt on an upstream instance, from sending to the end of the response body',
      'histogram',
      this.durations,
    ).register(registry);
  }

  /** Drops the series of every instance not in `present` (ids): instances come and go. */
  retain(present: ReadonlySet<string>): void {
    const gone = (labels: Readonly<Record<string, LabelValue>>) => !present.has(labels.instance as string);
    this.attempts.removeWhere(gone);
    this.durations.removeWhere(gone);
  }
}

/**
 * A client's state as Prometheus series, read at scrape time (nothing on the request path):
 * per instance `meshkit_upstream_in_flight`, `meshkit_upstream_circuit_state{state}` (1 for the
 * current state, 0 for the others), `meshkit_upstream_ejected` and
 * `meshkit_upstream_ejections_total`; per service (when the client has `stats()`)
 * `meshkit_upstream_calls_total`, `meshkit_upstream_retries_total`,
 * `meshkit_upstream_retry_budget_exhausted_total` and `meshkit_upstream_panic_routes_total`.
 * With `upstream`, its per-attempt series too, pruned to the instances the client still knows.
 * Once per client and registry (the names are fixed).
 */
export function registerClientMetrics(registry: Registry, client: ClientMetricsSource, upstream?: UpstreamMetrics): void {
  const perInstance = ['service', 'instance'] as const;
  new Gauge({
    name: 'meshkit_upstream_in_flight',
    help: 'Requests sent to an upstream instance and not yet answered in full',
    labelNames: perInstance,
    registers: [registry],
    collect() {
      this.reset();
      const present = new Set<string>();
      for (const s of client.snapshot()) {
        for (const i of s.instances) {
          present.add(i.instance.id);
          this.set({ service: s.name, instance: i.instance.id }, i.inFlight);
        }
      }
      upstream?.retain(present);
    },
  });
  new Gauge({
    name: 'meshkit_upstream_circuit_state',
    help: "An upstream instance's circuit breaker state: 1 for the current state, 0 for the others",
    labelNames: ['service', 'instance', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of client.snapshot()) {
        for (const i of s.instances) {
          for (const state of CIRCUIT_STATES) {
            this.set({ service: s.name, instance: i.instance.id, state }, i.circuit === state ? 1 : 0);
          }
        }
      }
    },
  });
  new Gauge({
    name: 'meshkit_upstream_ejected',
    help: 'Whether outlier detection ejected an upstream instance right now (1) or not (0)',
    labelNames: perInstance,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of client.snapshot()) {
        for (const i of s.instances) this.set({ service: s.name, instance: i.instance.id }, i.ejected ? 1 : 0);
      }
    },
  });
  new Counter({
    name: 'meshkit_upstream_ejections_total',
    help: 'Times outlier detection ejected an upstream instance since the client first saw it',
    labelNames: perInstance,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of client.snapshot()) {
        for (const i of s.instances) this.inc({ service: s.name, instance: i.instance.id }, i.ejections);
      }
    },
  });

  upstream?.register(registry);
  const stats = client.stats?.bind(client);
  if (stats === undefined) return;
  const perService: [string, string, keyof Omit<ServiceClientStats, 'service'>][] = [
    ['meshkit_upstream_calls_total', 'Requests to an upstream service (first attempts)', 'requests'],
    ['meshkit_upstream_retries_total', 'Further attempts on other instances of an upstream service', 'retries'],
    [
      'meshkit_upstream_retry_budget_exhausted_total',
      "Retries wanted but refused because the service's retry budget was spent",
      'retryBudgetExhausted',
    ],
    [
      'meshkit_upstream_panic_routes_total',
      'Picks that ignored outlier ejections because too few instances were available',
      'panicRoutes',
    ],
  ];
  for (const [name, help, field] of perService) {
    new Counter({
      name,
      help,
      labelNames: ['service'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stats()) this.inc({ service: s.service }, s[field]);
      },
    });
  }
}

/**
 * `meshkit_registry_instances{service,status}`: instances per service and status in a discovery
 * view, read at scrape time; every status of every known service is present (0 when none).
 */
export function registerRegistryMetrics(
  registry: Registry,
  source: Pick<InstanceSource, 'services' | 'instances'>,
): void {
  new Gauge({
    name: 'meshkit_registry_instances',
    help: 'Instances of a service in the discovery view, by status',
    labelNames: ['service', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const service of source.services()) {
        const counts = new Map<InstanceStatus, number>(INSTANCE_STATUSES.map((s) => [s, 0]));
        for (const i of source.instances(service)) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
        for (const [status, n] of counts) this.set({ service, status }, n);
      }
    },
  });
}
