/**
 * The toolkit's error catalogue: every error the toolkit raises is one of these codes.
 * Each maps to one HTTP status at the edge (problem+json); `retryable` says whether the same
 * request may succeed on another attempt or another instance.
 */
export interface ErrorSpec {
  status: number;
  title: string;
  retryable: boolean;
}

export const errorCatalogue = {
  BAD_REQUEST: { status: 400, title: 'Bad Request', retryable: false },
  VALIDATION_FAILED: { status: 400, title: 'Invalid input', retryable: false },
  NOT_FOUND: { status: 404, title: 'Not Found', retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed', retryable: false },
  CONFLICT: { status: 409, title: 'Conflict', retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload Too Large', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type', retryable: false },
  UNPROCESSABLE: { status: 422, title: 'Unprocessable Content', retryable: false },
  RATE_LIMITED: { status: 429, title: 'Too Many Requests', retryable: true },
  INTERNAL: { status: 500, title: 'Internal Server Error', retryable: false },
  UPSTREAM_FAILED: { status: 502, title: 'Bad Gateway', retryable: true },
  NO_HEALTHY_INSTANCE: { status: 503, title: 'Service Unavailable', retryable: true },
  SERVICE_DRAINING: { status: 503, title: 'Service Unavailable', retryable: true },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Gateway Timeout', retryable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface MeshErrorOptions {
  /** Seconds; sent as `Retry-After` with 429/503. */
  retryAfter?: number;
  /** Extra problem members (RFC 9457 extensions), e.g. `{ errors: [...] }`. */
  extensions?: Record<string, unknown>;
  cause?: unknown;
}

export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
  readonly retryAfter?: number;
  readonly extensions?: Record<string, unknown>;

  constructor(code: ErrorCode, detail: string, options: MeshErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    const spec = errorCatalogue[code];
    this.name = 'MeshError';
    this.code = code;
    this.status = spec.status;
    this.title = spec.title;
    this.retryable = spec.retryable;
    this.retryAfter = options.retryAfter;
    this.extensions = options.extensions;
  }
}

export function isMeshError(e: unknown): e is MeshError {
  return e instanceof MeshError;
}

/** The RFC 9457 `type` URI of a code: stable, documented in the README. */
export function problemType(code: ErrorCode): string {
  return `urn:meshkit:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/**
 * Set on a 5xx answer whose cause is a service further down (no healthy instance, unreachable or
 * timed out), not the answering instance: a client counts such an answer as the instance working,
 * so one broken dependency does not eject or open the breakers of every healthy caller.
 */
export const UPSTREAM_ERROR_HEADER = 'x-meshkit-upstream-error';

const DEPENDENCY_CODES: ReadonlySet<ErrorCode> = new Set(['NO_HEALTHY_INSTANCE', 'UPSTREAM_FAILED', 'UPSTREAM_TIMEOUT']);

/** True for the codes a ServiceClient raises when the service it called failed. */
export function isDependencyFailure(code: ErrorCode): boolean {
  return DEPENDENCY_CODES.has(code);
}
