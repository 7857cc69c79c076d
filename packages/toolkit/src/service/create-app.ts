import http, { type ServerResponse } from 'node:http';
import { AjvCompiler } from '@fastify/ajv-compiler';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyServerFactory, type FastifyServerOptions } from 'fastify';
import { ConfigError } from '../config/config.js';
import { AccessLogController, appLogger } from '../telemetry/access-log.js';
import { createLogger } from '../telemetry/logger.js';
import { installHttpMetrics, UNMATCHED_ROUTE } from '../telemetry/metrics.js';
import { childLoggerWithTrace, installServerSpans, type TraceIdentity } from '../telemetry/server-spans.js';
import { type ApiDocsOptions, installApiDocs } from './api-docs.js';
import { type FrontDoor, installEdge } from './edge/edge.js';
import { installGracefulClose } from './graceful-close.js';
import { closeIdleConnections } from './idle-connections.js';
import { installRequestTargetRules } from './request-target.js';
import { answerClientError, answerFrameworkError, installProblemHandling } from './problem.js';
import { installRequestId, requestIdOptions } from './request-id.js';
import type { ServiceApp } from './types.js';

export type { ApiDocsOptions, OpenApiDocument } from './api-docs.js';

export interface ServiceAppOptions {
  /** A pino logger, or false for silence. Default: pino at LOG_LEVEL (info). */
  logger?: FastifyBaseLogger | false;
  /** Max body size in bytes; larger bodies are 413. Default 1 MiB. */
  bodyLimit?: number;
  /** Origins allowed cross-origin access. Default none. `*` only without credentials. */
  corsOrigins?: string[];
  corsCredentials?: boolean;
  /** Fields on every log line of this app, e.g. `{ service: 'user-service', instance: '<id>' }`. */
  logBindings?: Record<string, string>;
  /** `/docs` (swagger-ui) and `/docs/json` (OpenAPI 3.1 from the route schemas); false: none. */
  apiDocs?: ApiDocsOptions | false;
  /** Whose SERVER spans these are. Default: `logBindings.service` (else `meshkit`) and `.instance`. */
  traceIdentity?: TraceIdentity;
  /**
   * Sees every request before Fastify does, on the HTTP/1.1 edge (`edge/`) instead of Node's
   * request objects (the gateway's fast path); set its `take` any time.
   */
  front?: FrontDoor;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * The Fastify instance every meshkit HTTP server (services and the gateway) starts from:
 * request ids, problem+json errors, a body limit, strict validation, CORS by allow-list, a close
 * that lets in-flight requests finish while refusing new ones, one access log line per request,
 * Prometheus metrics at `/metrics` (`app.metrics` is its registry), OpenAPI at `/docs`, and a
 * SERVER span per request whose context is `request.traceContext` (a no-op unless tracing is on).
 */
export function createServiceApp(options: ServiceAppOptions = {}): ServiceApp {
  const corsOrigins = options.corsOrigins ?? [];
  const corsCredentials = options.corsCredentials ?? false;
  if (corsCredentials && corsOrigins.includes('*')) {
    throw new ConfigError('CORS_ORIGINS "*" cannot be combined with credentials: list the origins instead');
  }

  const logging: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> =
    options.logger === false
      ? { logger: false }
      : {
          loggerInstance: appLogger(
            options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'info' }),
            options.logBindings,
          ),
        };

  const accessLog = new AccessLogController();
  const app = Fastify({
    ...logging,
    ...requestIdOptions,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    forceCloseConnections: 'idle',
    // One access line per request instead of Fastify's two.
    logController: accessLog,
    childLoggerFactory: childLoggerWithTrace,
    // Our own 503 while closing (graceful-close.ts) is problem+json with a request id.
    return503OnClosing: false,
    // What the router refuses before any hook (bad percent-encoding, an over-long path parameter).
    // Fastify runs neither hooks nor its response listeners for these: the access line and the
    // request series are written here.
    frameworkErrors: (error, request, reply) => {
      reply.raw.once('finish', () => {
        accessLog.requestCompleted(null, request, reply);
        app.httpMetrics.record(request.method, UNMATCHED_ROUTE, reply.statusCode, reply.elapsedTime);
      });
      answerFrameworkError(error, request, reply);
    },
    // What Node's parser refuses before there is a request: problem+json too.
    clientErrorHandler: answerClientError,
    schemaController: { compilersFactory: { buildValidator: strictValidatorFactory() } },
    serverFactory: meshkitServer(options.front),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // First: the request's span covers every other hook.
  installServerSpans(app, options.traceIdentity ?? traceIdentityOf(options.logBindings));
  installRequestId(app);
  installGracefulClose(app);
  installProblemHandling(app);
  installRequestTargetRules(app);
  installHttpMetrics(app);
  // Before any route is added: the document is made of the routes added from here on.
  if (options.apiDocs !== false) installApiDocs(app, options.apiDocs);
  // JSON only: a text/plain body is a 415, not a string that then fails validation as a 400.
  // (A proxy that forwards any body adds its own parsers in its own scope.)
  app.removeContentTypeParser('text/plain');
  if (corsOrigins.length > 0) {
    app.register(cors, {
      origin: corsOrigins.includes('*') ? '*' : corsOrigins,
      credentials: corsCredentials,
    });
  }
  return app;
}

function traceIdentityOf(bindings: Record<string, string> = {}): TraceIdentity {
  const { service = 'meshkit', instance } = bindings;
  return instance === undefined ? { service } : { service, instance };
}

type BuildValidator = ReturnType<typeof AjvCompiler>;

/**
 * Two Ajv instances (both with ajv-formats, so `email`/`uuid` work): bodies are JSON and are
 * checked as sent, without coercion (`"12"` is not a number); querystring, params and headers
 * are strings by nature and are coerced to the declared types. Neither removes unknown
 * properties: a schema with `additionalProperties: false` refuses them.
 */
function strictValidatorFactory(): BuildValidator {
  const pool = AjvCompiler();
  const shared = { useDefaults: true, removeAdditional: false as const, allErrors: false };
  return (externalSchemas) => {
    const body = pool(externalSchemas, { customOptions: { ...shared, coerceTypes: false } });
    const text = pool(externalSchemas, { customOptions: { ...shared, coerceTypes: 'array' } });
    return (route) => {
      if (route.httpPart === 'body') return body(route);
      if (route.httpPart === 'headers') return text({ ...route, schema: lowerCaseHeaderNames(route.schema) });
      return text(route);
    };
  };
}

/**
 * Header names arrive lower-cased. Fastify lower-cases header schemas only for its own compiler,
 * so do the same here for the top level (enough for the flat header schemas routes declare).
 */
function lowerCaseHeaderNames<S>(schema: S): S {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema;
  const s = schema as { properties?: Record<string, unknown>; required?: unknown };
  const out: Record<string, unknown> = { ...s };
  if (s.properties) {
    out.properties = Object.fromEntries(
      Object.entries(s.properties).map(([name, sub]) => [name.toLowerCase(), sub]),
    );
  }
  if (Array.isArray(s.required)) {
    out.required = s.required.map((name) => (typeof name === 'string' ? name.toLowerCase() : name));
  }
  return out as S;
}

/**
 * The HTTP/1 server Fastify would make (its settings), with `front` (when given) on an edge in
 * front of it that asks it first for every request (`edge/`), and idle keep-alive connections
 * closed by a sweep (`idle-connections.ts`) instead of Node's per-request keep-alive timer.
 * Responses still carry Node's `Keep-Alive: timeout=…` hint.
 */
function meshkitServer(front: FrontDoor | undefined): FastifyServerFactory {
  return (handler, options) => {
    const opts = options as {
      http?: http.ServerOptions;
      keepAliveTimeout: number;
      requestTimeout: number;
      connectionTimeout: number;
      maxRequestsPerSocket: number;
    };
    const keepAliveMs = opts.keepAliveTimeout;
    // No Host on HTTP/1.1: a 400 problem from Fastify (request-target.ts), not Node's empty one.
    const server = http.createServer({ ...opts.http, requireHostHeader: false }, (req, res) => {
      // What Node sets from server.keepAliveTimeout (0 here) and reads for the hint it sends.
      (res as ServerResponse & { _keepAliveTimeout: number })._keepAliveTimeout = keepAliveMs;
      handler(req, res);
    });
    // Only where Node would keep no per-connection count or timer of its own.
    if (front !== undefined && opts.connectionTimeout === 0 && opts.maxRequestsPerSocket === 0) {
      installEdge(server, { front, keepAliveMs });
    }
    closeIdleConnections(server, { idleMs: keepAliveMs });
    // What else Fastify sets on a server it makes itself.
    server.requestTimeout = opts.requestTimeout;
    server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
}
