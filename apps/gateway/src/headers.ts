import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { type RawHeaders, randomTraceparent, rawHeaderName } from '@meshkit/toolkit/core';

export type HeaderMap = Record<string, string | string[]>;

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), never forwarded. */
export const hopByHopHeaders: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection', // non-standard, still sent by some clients
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Request headers the gateway sets itself rather than copying: `host` names the upstream (the
 * client sets it), `content-length` follows the buffered body, `expect` was answered here.
 */
const replacedOnRequest: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'expect',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'traceparent',
  'tracestate',
]);

const NONE: ReadonlySet<string> = new Set();

/**
 * Lower-case names listed in `Connection` (its value, or every line of it): the sender declares
 * them hop-by-hop too.
 */
function connectionListed(value: string | readonly string[] | undefined): ReadonlySet<string> {
  // What almost every message says names no other header: nothing to parse.
  const only = typeof value === 'string' ? value : value?.length === 1 ? value[0] : undefined;
  if (value === undefined || only === 'keep-alive' || only === 'close') return NONE;
  const listed = new Set<string>();
  for (const v of typeof value === 'string' ? [value] : value) {
    for (const token of v.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') listed.add(name);
    }
  }
  return listed;
}

// Names come lower-case from Node's parser and from the client's: no case folding per header.
function copyEndToEnd(headers: IncomingHttpHeaders, skip: ReadonlySet<string>): HeaderMap {
  const listed = connectionListed(headers.connection);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || hopByHopHeaders.has(name) || skip.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** W3C Trace Context `traceparent` validity: known layout, no all-zero ids, version not ff. */
export function isValidTraceparent(value: string): boolean {
  const m = TRACEPARENT.exec(value);
  if (m === null) return false;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff') return false;
  if (version === '00' && rest !== undefined) return false;
  return !/^0+$/.test(traceId ?? '') && !/^0+$/.test(parentId ?? '');
}

/** A fresh sampled trace: `00-<32 hex trace id>-<16 hex parent id>-01`. */
export const newTraceparent: () => string = randomTraceparent;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface ForwardContext {
  /** This request's id, sent upstream as `x-request-id`. */
  requestId: string;
  /** The client's address, appended to `x-forwarded-for`. */
  remoteAddress: string | undefined;
  /** The protocol the client used to reach the gateway. */
  protocol: 'http' | 'https';
}

/**
 * The headers sent upstream for a client request: end-to-end headers only, the request id, the
 * trace context (passed through when valid, otherwise a new trace whose stale tracestate is
 * dropped), and `x-forwarded-*` describing the client's view.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext): HeaderMap {
  const out = copyEndToEnd(incoming, replacedOnRequest);
  out['x-request-id'] = ctx.requestId;

  const traceparent = single(incoming.traceparent)?.trim();
  if (traceparent !== undefined && isValidTraceparent(traceparent)) {
    out.traceparent = traceparent;
    const tracestate = incoming.tracestate;
    if (tracestate !== undefined) out.tracestate = tracestate;
  } else {
    out.traceparent = newTraceparent();
  }

  const priorFor = incoming['x-forwarded-for'];
  const prior = (Array.isArray(priorFor) ? priorFor.join(', ') : priorFor)?.trim();
  if (ctx.remoteAddress !== undefined) {
    out['x-forwarded-for'] = prior ? `${prior}, ${ctx.remoteAddress}` : ctx.remoteAddress;
  } else if (prior) {
    out['x-forwarded-for'] = prior;
  }
  // Host and proto are what this gateway saw: a client cannot claim another edge's view.
  const host = single(incoming.host);
  if (host !== undefined) out['x-forwarded-host'] = host;
  out['x-forwarded-proto'] = ctx.protocol;
  return out;
}

/** What the gateway adds to an upstream's answer on its way to the client. */
export interface ResponseAdditions {
  /** Headers meant for the client (CORS, fault marks); the upstream's own of the same name win. */
  own: OutgoingHttpHeaders;
  requestId: string;
  /** The connection closes after this response (the gateway drains). */
  close: boolean;
}

/**
 * The head returned to the client for an upstream's answer, as the flat `[name, value, …]` list
 * `writeHead` takes: the upstream's end-to-end headers unchanged and in order (repeated ones
 * repeated, names lower-cased), hop-by-hop ones and those its `Connection` names dropped, then the
 * gateway's own and `x-request-id` (this request's, not the upstream's).
 */
export function clientResponseHeaderList(raw: RawHeaders, add: ResponseAdditions): string[] {
  let connection: string[] | undefined;
  const names: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = rawHeaderName(raw[i] as string);
    names.push(name);
    if (name === 'connection') (connection ??= []).push(raw[i + 1] as string);
  }
  // Every Connection line counts, as in the joined value Node would make of them.
  const listed = connectionListed(connection);
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (hopByHopHeaders.has(name) || listed.has(name) || name === 'x-request-id') continue;
    out.push(name, raw[2 * i + 1] as string);
  }
  for (const name in add.own) {
    const value = add.own[name];
    if (value === undefined || names.includes(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  out.push('x-request-id', add.requestId);
  if (add.close) out.push('connection', 'close');
  return out;
}
