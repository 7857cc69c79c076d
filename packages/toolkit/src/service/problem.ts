import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type ErrorCode,
  errorCatalogue,
  isDependencyFailure,
  isMeshError,
  MeshError,
  problemType,
  UPSTREAM_ERROR_HEADER,
} from '../errors.js';
import { isDomainError, toMeshError } from './domain-error.js';
import { randomUuid } from '../wire/random-ids.js';
import { urlPath } from '../wire/url-path.js';
import { tagWithRequestId } from './request-id.js';

/** RFC 9457 media type of every error response. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail']);

/** A problem document. Extensions never overwrite the standard members. */
export function problemBody(
  status: number,
  title: string,
  detail: string,
  type = 'about:blank',
  extensions: Record<string, unknown> = {},
): object {
  const body: Record<string, unknown> = { type, title, status, detail };
  for (const [key, value] of Object.entries(extensions)) {
    if (!STANDARD_MEMBERS.has(key) && value !== undefined) body[key] = value;
  }
  return body;
}

/** A MeshError as a problem+json response: status, headers and the serialised body. */
export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The response a MeshError becomes (with `Retry-After` when it has one, and the upstream-error mark
 * when a dependency failed), for a request to `url` (its path, without the query, is `instance`).
 */
export function problemResponse(error: MeshError, url: string): ProblemResponse {
  const body = problemBody(error.status, error.title, error.message, problemType(error.code), {
    instance: pathOfUrl(url),
    ...error.extensions,
  });
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(error.retryAfter)));
  if (isDependencyFailure(error.code)) headers[UPSTREAM_ERROR_HEADER] = problemType(error.code);
  return { status: error.status, headers, body: JSON.stringify(body) };
}

/** Sends a MeshError as problem+json (with `Retry-After` when it has one). */
export function sendProblem(reply: FastifyReply, error: MeshError): FastifyReply {
  const problem = problemResponse(error, reply.request.url);
  // Pre-serialised: a route's response schema for this status must not reshape the problem.
  return reply.code(problem.status).headers(problem.headers).send(problem.body);
}

function sendBody(reply: FastifyReply, status: number, body: object): FastifyReply {
  return reply.code(status).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/**
 * Every error leaves as problem+json: MeshErrors with their own status, Fastify's request errors
 * (validation, body size, media type, bad JSON) as the 4xx they are, and anything else as a
 * generic 500 that reveals nothing of the server (the error itself is logged).
 */
export function installProblemHandling(app: FastifyInstance): void {
  app.setErrorHandler(answerError);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new MeshError('NOT_FOUND', `No route for ${request.method} ${pathOf(request)}`)),
  );
}

/**
 * Fastify's `frameworkErrors` option: what its router refuses before any route or hook runs (a
 * path that is not valid percent-encoding, a path parameter over `maxParamLength`) is answered
 * like every other error, not with Fastify's own `{"error", "code", "message"}` body.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // No hook runs for these, the one that tags every response with its request id neither.
  tagWithRequestId(request, reply);
  answerError(error, request, reply);
}

/** What Node's HTTP parser refuses (`clientError`), by llhttp's code: the status Node itself would send; else 400. */
const CLIENT_ERRORS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request head is larger than this server accepts' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, detail: 'The chunk extensions are larger than this server accepts' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request did not arrive in time' },
};

/**
 * Fastify's `clientErrorHandler` option: bytes Node's parser refuses before there is a request
 * (not HTTP/1.x, a bad header, a head too large, a body cut short) are answered with a problem and
 * a new request id, and the connection closes, as Node does; instead of Fastify's own
 * `{"error", "message"}` body. Nothing is written when a response is already on its way on the
 * connection (a pipelined request after it), nor to a connection that is gone.
 */
export function answerClientError(
  this: { log: { info(obj: object, msg: string): void } },
  error: Error & { code?: string; reason?: string },
  socket: Socket & { _httpMessage?: { headersSent?: boolean } | null },
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[error.code ?? ''];
  const status = known?.status ?? 400;
  const detail = known?.detail ?? `The request is not valid HTTP/1.1${error.reason ? ` (${error.reason})` : ''}`;
  const id = randomUuid();
  this.log.info({ reqId: id, status, code: error.code }, detail);
  const code = codeForStatus(status);
  const title = code ? errorCatalogue[code].title : (STATUS_CODES[status] ?? 'Client Error');
  const body = JSON.stringify(problemBody(status, title, detail, code ? problemType(code) : 'about:blank'));
  if (socket.writable && !socket._httpMessage?.headersSent) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function answerError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const other = otherClientError(error);
  if (other) {
    request.log.info({ status: other.status }, other.detail);
    const body = problemBody(other.status, other.title, other.detail, 'about:blank', {
      instance: pathOf(request),
    });
    return sendBody(reply, other.status, body);
  }
  const problem = asMeshError(error, request);
  if (problem.status >= 500 && !isMeshError(error)) {
    request.log.error({ err: error }, 'unhandled error');
  } else if (problem.status >= 500) {
    request.log.warn({ err: error }, problem.message);
  } else {
    request.log.info({ status: problem.status, code: problem.code }, problem.message);
  }
  return sendProblem(reply, problem);
}

/** An ajv error as Fastify attaches it to `error.validation`. */
interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function asMeshError(error: unknown, request: FastifyRequest): MeshError {
  if (isMeshError(error)) return error;
  if (isDomainError(error)) return toMeshError(error);
  const e = (error ?? {}) as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (Array.isArray(e.validation)) return validationError(e.validation, e.validationContext);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MeshError('PAYLOAD_TOO_LARGE', 'The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new MeshError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${quote(request.headers['content-type'])} is not accepted here; send application/json`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new MeshError('BAD_REQUEST', 'The body is empty but Content-Type says application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new MeshError('BAD_REQUEST', 'The body is not valid JSON');
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (error instanceof SyntaxError && (status === undefined || status === 400)) {
    return new MeshError('BAD_REQUEST', 'The body is not valid JSON');
  }
  if (status !== undefined && status >= 400 && status < 500) {
    const code = codeForStatus(status);
    if (code) return new MeshError(code, e.message || errorCatalogue[code].title);
  }
  return new MeshError('INTERNAL', 'The server failed to handle this request');
}

/** A 4xx the catalogue has no code for (401, 408...): sent with its own status, type about:blank. */
function otherClientError(error: unknown): { status: number; title: string; detail: string } | undefined {
  if (isMeshError(error) || typeof error !== 'object' || error === null) return undefined;
  const { statusCode, message, validation } = error as Partial<FastifyError>;
  if (validation || typeof statusCode !== 'number' || statusCode < 400 || statusCode >= 500) return undefined;
  if (codeForStatus(statusCode)) return undefined;
  const title = STATUS_CODES[statusCode] ?? 'Client Error';
  return { status: statusCode, title, detail: message || title };
}

function validationError(issues: ValidationIssue[], context: string | undefined): MeshError {
  const errors = issues.map((issue) => ({
    instancePath: issue.instancePath ?? '',
    message: describe(issue),
  }));
  const where = context ?? 'request';
  const detail = errors.map((x) => `${where}${x.instancePath} ${x.message}`).join('; ');
  return new MeshError('VALIDATION_FAILED', detail, { extensions: { errors } });
}

/** ajv's messages, made to name the offending property where ajv leaves it in `params`. */
function describe(issue: ValidationIssue): string {
  const extra = issue.params?.additionalProperty;
  if (issue.keyword === 'additionalProperties' && typeof extra === 'string') {
    return `must NOT have additional property "${extra}"`;
  }
  return issue.message ?? 'is invalid';
}

/** The catalogue code for a 4xx status, when the catalogue has exactly one meaning for it. */
function codeForStatus(status: number): ErrorCode | undefined {
  if (status === 400) return 'BAD_REQUEST';
  const codes = (Object.keys(errorCatalogue) as ErrorCode[]).filter(
    (c) => errorCatalogue[c].status === status,
  );
  return codes.length === 1 ? codes[0] : undefined;
}

function pathOf(request: FastifyRequest): string {
  return pathOfUrl(request.url);
}

function pathOfUrl(url: string): string {
  const path = urlPath(url);
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

function quote(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}
