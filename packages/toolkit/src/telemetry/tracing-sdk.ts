import { createRequire } from 'node:module';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The parts of the OpenTelemetry SDK that `startTracing` uses. */
export interface TracingSdk {
  W3CTraceContextPropagator: typeof W3CTraceContextPropagator;
  OTLPTraceExporter: typeof OTLPTraceExporter;
  defaultResource: typeof defaultResource;
  detectResources: typeof detectResources;
  envDetector: typeof envDetector;
  resourceFromAttributes: typeof resourceFromAttributes;
  BasicTracerProvider: typeof BasicTracerProvider;
  BatchSpanProcessor: typeof BatchSpanProcessor;
  NodeTracerProvider: typeof NodeTracerProvider;
  ATTR_SERVICE_NAME: typeof ATTR_SERVICE_NAME;
}

const require = createRequire(import.meta.url);
let sdk: TracingSdk | undefined;

/**
 * The SDK, loaded on first use: only a process that starts tracing (OTEL_EXPORTER_OTLP_ENDPOINT)
 * pays for it (~0.2 s of CPU at start and several MiB). `require`, so `startTracing` stays
 * synchronous: the packages are CommonJS, the very modules an `import` of them would load, so
 * they share the one `@opentelemetry/api` with the rest of the process.
 */
export function tracingSdk(): TracingSdk {
  sdk ??= {
    ...pick(require('@opentelemetry/core'), 'W3CTraceContextPropagator'),
    ...pick(require('@opentelemetry/exporter-trace-otlp-http'), 'OTLPTraceExporter'),
    ...pick(require('@opentelemetry/resources'), 'defaultResource', 'detectResources', 'envDetector', 'resourceFromAttributes'),
    ...pick(require('@opentelemetry/sdk-trace-base'), 'BasicTracerProvider', 'BatchSpanProcessor'),
    ...pick(require('@opentelemetry/sdk-trace-node'), 'NodeTracerProvider'),
    ...pick(require('@opentelemetry/semantic-conventions'), 'ATTR_SERVICE_NAME'),
  } as TracingSdk;
  return sdk;
}

function pick(module: Record<string, unknown>, ...names: (keyof TracingSdk)[]): Partial<TracingSdk> {
  return Object.fromEntries(names.map((name) => [name, module[name]]));
}
