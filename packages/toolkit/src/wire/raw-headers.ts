import type { IncomingHttpHeaders } from 'node:http';

/**
 * A response head as the parser reads it: name, value, name, value… in the order sent, names in
 * the case sent, values as latin1 (bytes pass through a proxy unchanged). The gateway passes it on
 * without building an object per response (a header object built key by key cost the relay ~20k
 * instructions per response).
 */
export type RawHeaders = readonly string[];

/** A raw header name in lower case (V8 returns a name already in lower case as it is). */
export function rawHeaderName(name: string): string {
  return name.toLowerCase();
}

/** Raw header pairs as Node's `IncomingHttpHeaders`: lower-case names, repeated names as arrays (`set-cookie` always). */
export function headersOf(raw: RawHeaders): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = rawHeaderName(raw[i] as string);
    const value = raw[i + 1] as string;
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
    const name = raw[i] as string;
    if (name.length === lowerName.length && rawHeaderName(name) === lowerName) return true;
  }
  return false;
}
