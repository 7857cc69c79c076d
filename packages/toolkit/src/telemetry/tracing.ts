import {
  type Context,
  context,
  createContextKey,
  type DiagLogger,
  DiagLogLevel,
  diag,
  propagation,
  ProxyTracerProvider,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { tracingSdk } from './tracing-sdk.js';

/** An OpenTelemetry context: what a request passes to the calls it makes (`request.traceContext`). */
export type TraceContext = Context;

/** The instrumentation scope of meshkit's spans. */
export const TRACER_NAME = '@meshkit/toolkit';

export interface TracingOptions {
  /**
   * `service.name` of the process: of every span when `resourcePerService` is false (set it from
   * `OTEL_SERVICE_NAME` then), otherwise only of spans made outside any service's request.
   */
  serviceName: string;
  /**
   * OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://collector:4318`); spans are
   * POSTed as JSON to `<endpoint>/v1/traces`. Absent: the exporter's own env defaults.
   */
  endpoint?: string;
  /**
   * Each service's spans under its own `service.name` (one resource per service, so the parts of
   * the one-process shop show up as the services they are). Default true.
   */
  resourcePerService?: boolean;
  /** Where failed exports are reported (the SDK is silent otherwise). */
  logger?: { warn(obj: object, msg?: string): void };
  /**
   * Longest wait for the last spans to be sent on shutdown, ms: a dead collector must not hold up
   * a stop. Default 2000.
   */
  shutdownTimeoutMs?: number;
}

/** Tracing started in this process. */
export interface Tracing {
  /** Sends the spans still buffered, then uninstalls the SDK: the API is a no-op again. */
  shutdown(): Promise<void>;
}

interface ActiveTracing {
  readonly resourcePerService: boolean;
  readonly base: Resource;
  readonly processor: SpanProcessor;
  readonly provider: NodeTracerProvider;
  /** One provider per service name, all feeding the same processor and exporter. */
  readonly perService: Map<string, Tracer>;
}

let active: ActiveTracing | undefined;

/** Which service a context's work belongs to: set by the SERVER span hook, read for CLIENT spans. */
const SERVICE_KEY = createContextKey('meshkit.service');

export function withTraceService(ctx: Context, service: string): Context {
  return ctx.setValue(SERVICE_KEY, service);
}

export function traceServiceOf(ctx: Context): string | undefined {
  const service = ctx.getValue(SERVICE_KEY);
  return typeof service === 'string' ? service : undefined;
}

/**
 * Installs the OpenTelemetry SDK for this process: a tracer provider whose spans a batch
 * processor sends over OTLP/HTTP (JSON), W3C trace-context propagation, and an AsyncLocalStorage
 * context manager. One per process: every app in it shares the exporter. Without it, meshkit's
 * spans go to the API's no-op tracer (or to an SDK someone else registered).
 */
export function startTracing(options: TracingOptions): Tracing {
  if (active) throw new Error('tracing is already started in this process');
  if (options.logger) diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);
  const sdk = tracingSdk();
  const exporter = new sdk.OTLPTraceExporter(
    options.endpoint === undefined ? {} : { url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` },
  );
  const processor = new sdk.BatchSpanProcessor(exporter);
  // The SDK's defaults, then OTEL_RESOURCE_ATTRIBUTES, then the service name.
  const base = sdk.defaultResource().merge(sdk.detectResources({ detectors: [sdk.envDetector] }));
  const provider = new sdk.NodeTracerProvider({
    resource: named(base, options.serviceName),
    spanProcessors: [processor],
  });
  provider.register({ propagator: new sdk.W3CTraceContextPropagator() });
  const state: ActiveTracing = {
    resourcePerService: options.resourcePerService ?? true,
    base,
    processor,
    provider,
    perService: new Map(),
  };
  active = state;

  let stopping: Promise<void> | undefined;
  const shutdown = async () => {
    if (active === state) active = undefined;
    // Uninstall first: spans started from now on are no-ops, not lost ones.
    trace.disable();
    propagation.disable();
    context.disable();
    const timeoutMs = options.shutdownTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        options.logger?.warn({ timeoutMs }, 'tracing: the last spans were not sent in time');
        resolve();
      }, timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([provider.shutdown(), timedOut]);
    } catch (err) {
      options.logger?.warn({ err }, 'tracing: the last spans could not be sent');
    } finally {
      clearTimeout(timer);
      if (options.logger) diag.disable();
    }
  };
  return {
    shutdown() {
      stopping ??= shutdown();
      return stopping;
    },
  };
}

// The API's global tracer provider is always a proxy; with no SDK registered it hands out this.
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * Whether any OpenTelemetry SDK is registered (meshkit's or another): without one every span is
 * a no-op, and the request path can skip making them. Two property reads.
 */
export function tracingInstalled(): boolean {
  if (active !== undefined) return true;
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_SDK;
}

/**
 * The tracer for spans of `service`: with `resourcePerService`, one whose resource names that
 * service; otherwise the global one (meshkit's SDK, another registered SDK, or the no-op).
 */
export function tracerFor(service: string | undefined): Tracer {
  const state = active;
  if (!state?.resourcePerService || service === undefined) return trace.getTracer(TRACER_NAME);
  let tracer = state.perService.get(service);
  if (!tracer) {
    const provider = new (tracingSdk().BasicTracerProvider)({
      resource: named(state.base, service),
      spanProcessors: [state.processor],
    });
    tracer = provider.getTracer(TRACER_NAME);
    state.perService.set(service, tracer);
  }
  return tracer;
}

function named(base: Resource, serviceName: string): Resource {
  const { resourceFromAttributes, ATTR_SERVICE_NAME } = tracingSdk();
  return base.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }));
}

function diagLogger(logger: { warn(obj: object, msg?: string): void }): DiagLogger {
  const warn = (message: string, ...args: unknown[]) => logger.warn({ details: args }, `tracing: ${message}`);
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}
