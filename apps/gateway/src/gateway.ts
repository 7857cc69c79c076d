import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  createServiceApp,
  MeshError,
  registerClientMetrics,
  systemClock,
  tracingInstalled,
  type Clock,
  type FrontDoor,
  type InstanceSource,
  type ServiceApp,
  type ServiceDispatcher,
  type UpstreamMetrics,
} from '@meshkit/toolkit/core';
import type { FastifyBaseLogger } from 'fastify';
import { mergedDocs } from './api-docs.js';
import { AttemptStats } from './dashboard/attempt-stats.js';
import { installDashboard } from './dashboard/dashboard.js';
import { fastPath } from './fast-path.js';
import { FaultInjector, faultsRoute, type FaultRule } from './fault-injection.js';
import { proxyPlugin } from './proxy.js';
import { registryRoute } from './registry-view.js';
import { defaultRoutes, matchRoute, validateRoutes, type Route } from './route-table.js';

export const GATEWAY_NAME = 'api-gateway';

export interface GatewayOptions {
  client: ServiceDispatcher;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Default: users, products and orders (`defaultRoutes`). */
  routes?: Route[];
  /** A pino logger, or false for silence. */
  logger?: FastifyBaseLogger | false;
  /** Origins allowed cross-origin access. Default none. */
  corsOrigins?: string[];
  /** Max request body in bytes. Default 1 MiB (larger is 413). */
  bodyLimit?: number;
  /** Per-attempt upstream timeout in ms (504 past it). Default: the client's. */
  requestTimeoutMs?: number;
  /** Injected delays and aborts by route (chaos experiments). Default none. */
  faults?: FaultRule[];
  /** Dice of the fault percentages, returning [0, 1). Default Math.random. */
  faultRandom?: () => number;
  /** The client's per-attempt series (fed by its `onAttempt`), served at `/metrics` with the rest. */
  upstreamMetrics?: UpstreamMetrics;
  /**
   * Relay plain proxied GETs and HEADs beside Fastify (`fast-path.ts`). Default true; it steps
   * aside by itself while an OpenTelemetry SDK is registered (the full path makes the spans) or
   * fault injection is on.
   */
  fastPath?: boolean;
  /** How long the merged `/docs/json` is kept, ms. Default 5000. */
  docsTtlMs?: number;
  /** The client's per-instance figures over the last seconds (fed by its `onAttempt`), shown at `/dashboard`. */
  attemptStats?: AttemptStats;
  /** The instance source's change feed: the dashboard shows an instance coming or going at once. */
  onInstancesChange?: InstanceSource['onChange'];
  /** The built dashboard UI. Default `apps/gateway/dist-dashboard/`. */
  dashboardDir?: string;
  clock?: Clock;
}

export interface GatewayHandle {
  readonly app: ServiceApp;
  /** `http://host:port` once started. */
  readonly url: string;
  start(): Promise<void>;
  /** Finishes in-flight requests, then closes. Idempotent. */
  stop(): Promise<void>;
}

const healthStatus = { created: 'starting', running: 'healthy', stopping: 'draining' } as const;

/** Paths the gateway answers itself; no route may take them over. */
const ownPaths = ['/health', '/registry', '/faults', '/metrics', '/docs', '/dashboard'];

/**
 * The public edge: its own `/`, health and `/registry`, and every method under each route prefix
 * proxied to a healthy instance of the owning service. It is not itself registered: nothing calls it
 * through the mesh.
 */
export async function createGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const routes = options.routes ?? defaultRoutes;
  validateRoutes(routes);
  for (const r of routes) {
    const own = ownPaths.find((p) => r.prefix === p || r.prefix.startsWith(`${p}/`));
    if (own !== undefined) throw new Error(`route prefix ${r.prefix} collides with the gateway's own ${own}`);
  }
  const faults = new FaultInjector(options.faults ?? [], routes, options.faultRandom);
  const clock = options.clock ?? systemClock;
  const host = options.host ?? '127.0.0.1';
  const id = randomUUID();
  let state: 'created' | 'running' | 'stopping' = 'created';

  const docs = mergedDocs({
    client: options.client,
    routes,
    clock,
    ...(options.docsTtlMs === undefined ? {} : { ttlMs: options.docsTtlMs }),
    logger: { warn: (obj, msg) => app.log.warn(obj, msg) },
  });
  const front: FrontDoor = {};
  const app: ServiceApp = createServiceApp({
    front,
    logger: options.logger,
    bodyLimit: options.bodyLimit,
    corsOrigins: options.corsOrigins,
    logBindings: { service: GATEWAY_NAME, instance: id },
    apiDocs: {
      title: 'meshkit API',
      description: 'Every routed service through the gateway, and the gateway itself',
      // The proxy's catch-all routes (the services' own documents describe those paths), and the dashboard's.
      hide: (url) => matchRoute(routes, url) !== undefined || url === '/dashboard' || url.startsWith('/dashboard/'),
      document: (own) => docs(own),
    },
  });
  registerClientMetrics(app.metrics, options.client, options.upstreamMetrics);

  app.get('/', async () => ({ message: 'API Gateway', status: 'running' }));
  // The services' health shapes (the seed's `/health`: status, service_id, epoch-seconds timestamp).
  app.get('/health', async () => ({
    status: healthStatus[state],
    service: GATEWAY_NAME,
    service_id: id,
    timestamp: clock.now() / 1000,
  }));
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async () => {
    if (state === 'stopping') {
      throw new MeshError('SERVICE_DRAINING', 'the gateway is shutting down', { retryAfter: 1 });
    }
    if (state === 'created') {
      throw new MeshError('NO_HEALTHY_INSTANCE', 'the gateway has not started yet', { retryAfter: 1 });
    }
    return { status: 'ready' };
  });
  registryRoute(app, options.client);
  const dashboard = installDashboard(app, {
    client: options.client,
    routes,
    stats: options.attemptStats ?? new AttemptStats({ clock }),
    clock,
    ...(options.onInstancesChange === undefined ? {} : { onChange: options.onInstancesChange }),
    ...(options.dashboardDir === undefined ? {} : { uiDir: options.dashboardDir }),
  });
  faultsRoute(app, faults);
  if (faults.active) {
    app.log.warn({ faults: faults.rules }, 'fault injection is on: some requests will be delayed or refused');
  }
  app.register(proxyPlugin, {
    client: options.client,
    routes,
    requestTimeoutMs: options.requestTimeoutMs,
    clock,
    ...(faults.active ? { faults } : {}),
    onUpstream: dashboard.onUpstream,
  });
  if (options.fastPath !== false) {
    front.take = fastPath({
      client: options.client,
      routes,
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      clock,
      log: app.log,
      metrics: app.httpMetrics,
      // The full path makes the spans, the injected faults and a draining gateway's 503s.
      enabled: () => state === 'running' && !faults.active && !tracingInstalled(),
      draining: () => state === 'stopping',
      onServed: dashboard.served,
    });
  }

  let url = '';
  let stopping: Promise<void> | undefined;
  return {
    app,
    get url() {
      return url;
    },
    async start() {
      await app.listen({ port: options.port, host });
      const address = app.server.address() as AddressInfo;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      url = `http://${shown}:${address.port}`;
      state = 'running';
    },
    stop() {
      stopping ??= (async () => {
        state = 'stopping';
        // Fastify's close stops accepting, lets in-flight requests finish, then resolves.
        await app.close();
      })();
      return stopping;
    },
  };
}
