import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { urlPath } from '../wire/url-path.js';
import { redactsItself } from './logger.js';
import { UNMATCHED_ROUTE } from './metrics.js';
import { LOG_REDACT_PATHS, REDACTED } from './redact.js';

/**
 * The app's logger: `base` with `bindings` on every line (e.g. the service name and instance id).
 * Fastify's per-request children add `reqId` and inherit them. A logger from `createLogger`
 * redacts secrets itself (`redact.ts`); any other gets pino's path-based `redact` with the same rules.
 */
export function appLogger(base: FastifyBaseLogger, bindings: Record<string, string> = {}): FastifyBaseLogger {
  if (redactsItself(base)) return base.child(bindings);
  return base.child(bindings, { redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED } });
}

/** The message of every access line. */
export const ACCESS_LINE_MESSAGE = 'request completed';

/** An access line's fields: the path without its query (which may carry secrets), ms to 0.1. */
export function accessLine(method: string, url: string, route: string, statusCode: number, elapsedMs: number) {
  return { method, path: urlPath(url), route, statusCode, durationMs: Math.round(elapsedMs * 10) / 10 };
}

const QUIET_ROUTES = new Set(['/metrics', '/health', '/health/live', '/health/ready']);

/**
 * One access line per request, written when its response is over, in place of Fastify's pair of
 * "incoming request" / "request completed" lines: method, path without the query (which may carry
 * secrets), route template, status and duration in ms; the request's logger adds `reqId`. A
 * response that broke off while being sent is logged as an error, with the error. Scrapes and
 * probes (`/metrics`, `/health*`), which come every few seconds, log at debug.
 */
export class AccessLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = accessLine(
      request.method,
      request.url,
      request.routeOptions.url ?? UNMATCHED_ROUTE,
      reply.statusCode,
      reply.elapsedTime,
    );
    if (error) request.log.error({ ...line, err: error }, 'request failed while being sent');
    else if (QUIET_ROUTES.has(line.route)) request.log.debug(line, ACCESS_LINE_MESSAGE);
    else request.log.info(line, ACCESS_LINE_MESSAGE);
  }
}
