import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { UNMATCHED_ROUTE } from './metrics.js';

/**
 * What never reaches a log line, wherever it is logged from: credentials in headers (as Fastify's
 * or our own serialisers put them, or as someone logs `request.headers`) and request bodies.
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
  'headers["set-cookie"]',
  '*.headers.authorization',
  '*.headers["proxy-authorization"]',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'body',
  '*.body',
];

/**
 * The app's logger: `base` with `bindings` on every line (e.g. the service name and instance id)
 * and the redactions above. Fastify's per-request children add `reqId` and inherit both.
 */
export function appLogger(base: FastifyBaseLogger, bindings: Record<string, string> = {}): FastifyBaseLogger {
  return base.child(bindings, { redact: { paths: [...LOG_REDACT_PATHS], censor: '[redacted]' } });
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
    const url = request.url;
    const q = url.indexOf('?');
    const line = {
      method: request.method,
      path: q === -1 ? url : url.slice(0, q),
      route: request.routeOptions.url ?? UNMATCHED_ROUTE,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed while being sent');
    else if (QUIET_ROUTES.has(line.route)) request.log.debug(line, 'request completed');
    else request.log.info(line, 'request completed');
  }
}
