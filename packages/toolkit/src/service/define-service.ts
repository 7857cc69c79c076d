import type { AddressInfo } from 'node:net';
import { Type } from 'typebox';
import { type Clock, systemClock } from '../clock.js';
import { MeshError } from '../errors.js';
import type { ServiceInstance } from '../registry/instance.js';
import { uuidv7 } from '../wire/ids.js';
import { createServiceApp } from './create-app.js';
import { installDeadlines } from './deadline-hook.js';
import { installServiceFaults } from './fault-injection.js';
import { installIdempotency } from './idempotency.js';
import { Registrar } from './registrar.js';
import type { ServiceApp, ServiceDefinition, ServiceHandle, ServiceOptions } from './types.js';

const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('starting'), Type.Literal('healthy'), Type.Literal('draining')]),
  service_id: Type.String(),
  timestamp: Type.Number(),
});
const InfoReply = Type.Object({
  id: Type.String(),
  name: Type.String(),
  version: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
});
const StatusReply = Type.Object({ status: Type.String() });

/**
 * Builds a service: the shared Fastify base, the health and info routes, then the definition's
 * routes. `start()` listens and registers; `stop()` drains gracefully. `app.inject()` works at once.
 */
export async function defineService(def: ServiceDefinition, options: ServiceOptions): Promise<ServiceHandle> {
  const clock: Clock = options.clock ?? systemClock;
  const host = options.host ?? '127.0.0.1';
  const advertiseHost = options.advertiseHost ?? (isWildcard(host) ? '127.0.0.1' : host);
  const instance: ServiceInstance = {
    id: uuidv7(),
    service: def.name,
    version: def.version ?? '1.0.0',
    host: advertiseHost,
    port: options.port,
    weight: options.weight ?? 1,
    tags: [...(options.tags ?? [])],
    meta: { pid: String(process.pid), ...options.meta },
    status: 'starting',
    registeredAt: 0,
    lastHeartbeat: 0,
  };

  const app = createServiceApp({
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    ...(options.corsOrigins === undefined ? {} : { corsOrigins: options.corsOrigins }),
    ...(options.corsCredentials === undefined ? {} : { corsCredentials: options.corsCredentials }),
    logBindings: { service: def.name, instance: instance.id },
    apiDocs: { title: def.name, version: instance.version },
  });

  let listening = false;
  let registrar: Registrar | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  // Deadline first: a request nobody waits for is neither delayed nor run.
  installDeadlines(app, clock);
  installServiceFaults(app, options.faults ?? [], {
    service: def.name,
    ...(options.faultRandom === undefined ? {} : { random: options.faultRandom }),
  });
  addHealthRoutes(app, def, instance, clock, () => listening && instance.status === 'healthy');
  // Before the routes: it hooks every POST route as it is added.
  if (def.idempotency) await installIdempotency(app, { ...def.idempotency, clock });
  await def.routes(app);

  const start = async (): Promise<void> => {
    if (stopping) throw new Error(`${def.name} was stopped; build a new one to start again`);
    await app.listen({ host, port: options.port });
    listening = true;
    instance.port = (app.server.address() as AddressInfo).port;
    instance.registeredAt = clock.now();
    instance.lastHeartbeat = instance.registeredAt;
    instance.status = 'healthy';
    if (options.registry) {
      const { registeredAt: _r, lastHeartbeat: _h, ...registration } = instance;
      registrar = new Registrar(options.registry, registration, {
        ttlMs: options.ttlMs ?? 6000,
        heartbeatMs: options.heartbeatMs ?? 2000,
        logger: app.log,
        clock,
      });
      await registrar.start();
    }
    app.log.info({ service: def.name, id: instance.id, url: urlOf(instance) }, 'service started');
  };

  const stop = async (): Promise<void> => {
    await starting?.catch(() => undefined);
    instance.status = 'draining';
    if (registrar) {
      await registrar.setStatus('draining'); // watchers stop routing here before we go
      await registrar.stop();
    }
    const drainDelayMs = options.drainDelayMs ?? 0;
    if (drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
    try {
      await app.close(); // refuses new connections, lets in-flight requests finish
    } finally {
      listening = false;
      await def.close?.();
    }
  };

  return {
    app,
    name: def.name,
    instance,
    get url() {
      return urlOf(instance);
    },
    start() {
      starting ??= start();
      return starting;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}

function addHealthRoutes(
  app: ServiceApp,
  def: ServiceDefinition,
  instance: ServiceInstance,
  clock: Clock,
  serving: () => boolean,
): void {
  // The seed's shape: `timestamp` is epoch seconds, as Python's time.time().
  app.get('/health', { schema: { response: { 200: HealthReply } } }, async () => ({
    status: instance.status,
    service_id: instance.id,
    timestamp: clock.now() / 1000,
  }));

  app.get('/health/live', { schema: { response: { 200: StatusReply } } }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { schema: { response: { 200: StatusReply } } }, async (request) => {
    if (instance.status === 'draining') {
      throw new MeshError('SERVICE_DRAINING', `${def.name} is shutting down`, { retryAfter: 1 });
    }
    if (!serving()) {
      throw new MeshError('NO_HEALTHY_INSTANCE', `${def.name} has not started yet`, { retryAfter: 1 });
    }
    try {
      await def.ready?.();
    } catch (err) {
      request.log.warn({ err }, 'readiness check failed');
      throw new MeshError('NO_HEALTHY_INSTANCE', `${def.name} is not ready`, { retryAfter: 1 });
    }
    return { status: 'ready' };
  });

  app.get('/info', { schema: { response: { 200: InfoReply } } }, async () => ({
    id: instance.id,
    name: instance.service,
    version: instance.version,
    host: instance.host,
    port: instance.port,
  }));
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function urlOf(instance: ServiceInstance): string {
  const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
  return `http://${host}:${instance.port}`;
}

