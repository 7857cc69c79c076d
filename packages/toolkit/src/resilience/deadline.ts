/**
 * Deadlines across hops. A deadline is an absolute time on the local clock (ms); on the wire it
 * travels as the time that remains, `x-request-timeout-ms: <integer ms>`, so hosts' clocks need
 * not agree (gRPC's `grpc-timeout`, Envoy's `x-envoy-expected-rq-timeout-ms`).
 */

export const REQUEST_TIMEOUT_HEADER = 'x-request-timeout-ms';

/** Larger values are refused as nonsense: no request here is meant to run for over an hour. */
export const MAX_REQUEST_TIMEOUT_MS = 3_600_000;

type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/**
 * The deadline a caller sent, as an absolute time on the local clock: `now` + the header's
 * milliseconds. Undefined when the header is absent, repeated with different values, not a plain
 * non-negative integer, or over MAX_REQUEST_TIMEOUT_MS. `0` is valid: the caller has no time left.
 */
export function deadlineFromHeaders(headers: HeaderBag, now: number): number | undefined {
  const raw = headerValue(headers, REQUEST_TIMEOUT_HEADER);
  if (raw === undefined) return undefined;
  const values = Array.isArray(raw) ? raw : [raw];
  const distinct = new Set(values.map((v) => String(v).trim()));
  if (distinct.size !== 1) return undefined;
  const [text] = distinct;
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const ms = Number(text);
  if (ms > MAX_REQUEST_TIMEOUT_MS) return undefined;
  return now + ms;
}

/** Milliseconds left before `deadline` (never negative). */
export function remainingMs(deadline: number, now: number): number {
  return Math.max(0, deadline - now);
}

/** The header value for `ms` milliseconds: a whole number, rounded down (never promise more time). */
export function requestTimeoutHeaderValue(ms: number): string {
  return String(Math.max(0, Math.floor(ms)));
}

function headerValue(headers: HeaderBag, name: string): string | readonly string[] | number | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}
