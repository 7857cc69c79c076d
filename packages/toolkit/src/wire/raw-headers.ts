import type { IncomingHttpHeaders } from 'node:http';
import { util } from 'undici';

/**
 * A response head as undici reads it: name, value, name, value… as bytes, in the order sent.
 * The gateway passes it on without building an object per response (a header object built key by
 * key cost the relay ~20k instructions per response).
 */
export type RawHeaders = readonly Buffer[];

/** A raw header name in lower case: a well-known one is looked up in undici's table, not decoded. */
export function rawHeaderName(name: Buffer): string {
  return util.headerNameToString(name);
}

/**
 * Raw header pairs as Node's `IncomingHttpHeaders`: lower-case names, repeated names as arrays
 * (`set-cookie` always). Values are read as latin1, so bytes pass through a proxy unchanged.
 */
export function headersOf(raw: RawHeaders): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = rawHeaderName(raw[i] as Buffer);
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const prior = headers[name];
    if (prior === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prior)) prior.push(value);
    else headers[name] = [prior, value];
  }
  return headers;
}

/** Whether `raw` has a header named `lowerName` (given in lower case), in any case. */
export function hasRawHeader(raw: RawHeaders, lowerName: string): boolean {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as Buffer;
    if (name.length === lowerName.length && rawHeaderName(name) === lowerName) return true;
  }
  return false;
}
