/**
 * The codes of the errors an upstream connection fails an exchange with (besides the socket's
 * own: ECONNREFUSED, ECONNRESET, … and llhttp's HPE_* for a malformed answer).
 */
export const http1ErrorCodes = {
  /** No TCP connection within the connect timeout: nothing was sent. */
  CONNECT_TIMEOUT: 'MESHKIT_CONNECT_TIMEOUT',
  /** No byte of the answer for the exchange's timeout while it was on a connection. */
  ANSWER_TIMEOUT: 'MESHKIT_ANSWER_TIMEOUT',
  /** The upstream closed the connection before the answer was complete. */
  CLOSED_EARLY: 'MESHKIT_UPSTREAM_CLOSED',
  /** The upstream sent bytes no request asked for. */
  UNEXPECTED_DATA: 'MESHKIT_UNEXPECTED_DATA',
  /** The pool was closed before the exchange got a connection: nothing was sent. */
  POOL_CLOSED: 'MESHKIT_POOL_CLOSED',
  /** It waited for a connection, and the one being made failed before it was up: nothing was sent. */
  UNREACHABLE: 'MESHKIT_UPSTREAM_UNREACHABLE',
  /** The request cannot be written as asked (bad header, method, target or length). */
  INVALID_REQUEST: 'MESHKIT_INVALID_REQUEST',
  /** A streamed body sent other than the content-length it declared, or failed. */
  BODY_FAILED: 'MESHKIT_REQUEST_BODY_FAILED',
} as const;

export type Http1ErrorCode = (typeof http1ErrorCodes)[keyof typeof http1ErrorCodes];

export function http1Error(code: Http1ErrorCode, message: string, cause?: unknown): Error & { code: Http1ErrorCode } {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: Http1ErrorCode };
  err.code = code;
  return err;
}

export function invalidRequest(message: string): Error {
  return http1Error(http1ErrorCodes.INVALID_REQUEST, message);
}
