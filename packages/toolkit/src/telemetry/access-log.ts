import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import pino from 'pino';
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

/** Writes the access line of one request (`reqId` and the fields of `accessLine`), at info. */
export type AccessLineWriter = (
  reqId: string,
  method: string,
  url: string,
  route: string,
  statusCode: number,
  elapsedMs: number,
) => void;

const INFO = 30;
const {
  chindingsSym,
  hooksSym,
  levelValSym,
  lsCacheSym,
  messageKeySym,
  mixinSym,
  nestedKeySym,
  streamSym,
  timeSym,
} = pino.symbols;
const MESSAGE_JSON = `,"msg":${JSON.stringify(ACCESS_LINE_MESSAGE)}}\n`;

/**
 * The access line of a hot path, written as `logger.info({ reqId, ...accessLine(...) }, ACCESS_LINE_MESSAGE)`
 * would write it, byte for byte, but put together as one string: pino's generic path (the
 * request-object sniffing, message formatting, the key loop and redaction pass over a line that
 * holds no secret) cost a proxied request several microseconds. Only for a logger made by
 * `createLogger` (whose settings are known); any other gets `logger.info`.
 */
export function accessLineWriter(logger: FastifyBaseLogger): AccessLineWriter {
  const own = logger as unknown as Record<symbol, unknown>;
  const known =
    redactsItself(logger) &&
    own[mixinSym] == null &&
    own[nestedKeySym] == null &&
    own[messageKeySym] === 'msg' &&
    (own[hooksSym] as { streamWrite?: unknown } | undefined)?.streamWrite == null &&
    (own[lsCacheSym] as Record<number, string> | undefined)?.[INFO] === '{"level":30' &&
    typeof own[timeSym] === 'function' &&
    (own[streamSym] as { write?: unknown } | undefined)?.write !== undefined;
  if (!known) {
    return (reqId, method, url, route, statusCode, elapsedMs) => {
      if (infoEnabled(logger)) logger.info({ reqId, ...accessLine(method, url, route, statusCode, elapsedMs) }, ACCESS_LINE_MESSAGE);
    };
  }
  // Whether the time and the bindings are ASCII, kept for the last text seen of each: a line of
  // ASCII parts only goes to a `LineBuffer` byte for byte (`writeAscii`), with no UTF-8 pass.
  let time = '';
  let timeAscii = true;
  let bindings = '';
  let bindingsAscii = true;
  return (reqId, method, url, route, statusCode, elapsedMs) => {
    // Read each time: the level and the bindings can change while the process runs.
    if ((own[levelValSym] as number) > INFO) return;
    const stream = own[streamSym] as { write(line: string): void; writeAscii?(line: string): void };
    const now = (own[timeSym] as () => string)();
    if (now !== time) {
      time = now;
      timeAscii = ASCII.test(now);
    }
    const chindings = own[chindingsSym] as string;
    if (chindings !== bindings) {
      bindings = chindings;
      bindingsAscii = ASCII.test(chindings);
    }
    quotedAllPlain = true;
    const line =
      '{"level":30' + now + chindings + ',"reqId":' + jsonString(reqId) + ',"method":' + jsonString(method) +
      ',"path":' + jsonString(urlPath(url)) + ',"route":' + jsonString(route) + ',"statusCode":' + statusCode +
      ',"durationMs":' + Math.round(elapsedMs * 10) / 10 + MESSAGE_JSON;
    if (quotedAllPlain && timeAscii && bindingsAscii && stream.writeAscii !== undefined) stream.writeAscii(line);
    else stream.write(line);
  };
}

const ASCII = /^[\x00-\x7f]*$/;

/** Printable ASCII but `"` and `\\`: what JSON takes between quotes as it is. */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Cleared by `jsonString` when a text it quoted was not plain (the line may not be ASCII then). */
let quotedAllPlain = true;

/** `JSON.stringify(text)`, without its escaping pass for the usual text that needs none. */
function jsonString(text: string): string {
  if (PLAIN_JSON_TEXT.test(text)) return `"${text}"`;
  quotedAllPlain = false;
  return JSON.stringify(text);
}

/** pino's level check; a logger without one (a test's) always logs. */
function infoEnabled(log: FastifyBaseLogger): boolean {
  const check = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  return check === undefined || check.call(log, 'info');
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
