import type { Clock, ServiceDispatcher, ServiceInstance } from '@meshkit/toolkit/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServedRequest } from '../fast-path.js';
import type { Route } from '../route-table.js';
import type { AttemptStats } from './attempt-stats.js';
import { dashboardView } from './dashboard-view.js';
import { EventStream } from './event-stream.js';
import { RecentRequests } from './recent-requests.js';
import { staticUi } from './static-ui.js';
import type { DashboardView } from './wire.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The instance that answered a proxied request (set by the proxy, read by the dashboard). */
    upstreamInstanceId: string | undefined;
  }
}

export interface DashboardOptions {
  client: ServiceDispatcher;
  routes: readonly Route[];
  /** Fed by the client's `onAttempt`. */
  stats: AttemptStats;
  clock: Clock;
  /** The instance source's change feed: a change is pushed to the browsers at once. */
  onChange?: (listener: (service: string) => void) => () => void;
  /** The built UI. Default `apps/gateway/dist-dashboard/`. */
  uiDir?: string;
  /** Proxied requests kept for "recent requests". Default 50. */
  recentCapacity?: number;
  /** Between two events on `/dashboard/events`, ms. Default 1000. */
  intervalMs?: number;
}

export interface Dashboard {
  /** For the proxy: the instance that answered `request`. */
  onUpstream(request: FastifyRequest, instance: ServiceInstance): void;
  /** For the fast path, which has no Fastify request: one proxied request, answered. */
  served(request: ServedRequest): void;
  view(): DashboardView;
}

/**
 * The gateway's live dashboard: the built UI at `/dashboard`, the current picture as JSON at
 * `/dashboard/snapshot`, and the same picture as server-sent events at `/dashboard/events`
 * (every second, and at once when an instance comes or goes). Every proxied request is kept in a
 * small ring for "recent requests" by an `onResponse` hook; the streams end when the gateway closes.
 */
export function installDashboard(app: FastifyInstance, options: DashboardOptions): Dashboard {
  const { client, stats, clock } = options;
  const recent = new RecentRequests(options.recentCapacity);
  // The proxy's route urls (`/users`, `/users/*`) and the service behind each.
  const serviceOf = new Map<string, string>();
  for (const r of options.routes) {
    serviceOf.set(r.prefix, r.service);
    serviceOf.set(`${r.prefix}/*`, r.service);
  }

  app.decorateRequest('upstreamInstanceId', undefined);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    const service = route === undefined ? undefined : serviceOf.get(route);
    if (service !== undefined) {
      const url = request.url;
      recent.add(request.id, request.method, url, reply.statusCode, reply.elapsedTime, service, request.upstreamInstanceId, clock.now());
    }
    done();
  });

  const view = (): DashboardView => {
    const snapshot = client.snapshot();
    const present = new Set<string>();
    for (const s of snapshot) for (const i of s.instances) present.add(i.instance.id);
    stats.retain(present);
    return dashboardView(snapshot, stats, recent.list(), clock.now());
  };

  const stream = new EventStream({
    produce: () => JSON.stringify(view()),
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    onError: (err) => app.log.warn({ err }, 'dashboard: cannot build the view'),
  });
  const unsubscribe = options.onChange?.(() => stream.nudge());
  // Before the server closes: it waits for open responses, and these never end on their own.
  app.addHook('preClose', (done) => {
    unsubscribe?.();
    stream.close();
    done();
  });

  app.get('/dashboard/snapshot', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return view();
  });
  app.get('/dashboard/events', (request, reply) => {
    reply.hijack();
    stream.attach(reply.raw, { 'x-request-id': request.id });
  });
  staticUi(app, options.uiDir);

  return {
    onUpstream(request, instance) {
      request.upstreamInstanceId = instance.id;
    },
    served(r) {
      recent.add(r.id, r.method, r.url, r.status, r.elapsedMs, r.service, r.instanceId, clock.now());
    },
    view,
  };
}
