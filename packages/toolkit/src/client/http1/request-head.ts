import { INVALID_VALUE, TOKEN } from '../../wire/header-syntax.js';
import { invalidRequest } from './errors.js';

/** A request's body as the connection sends it. */
export type RequestBody = Buffer | string | NodeJS.ReadableStream | null;

/** Names a request may not carry: the connection's own framing and upgrade machinery. */
const REFUSED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect']);

// A request target: no controls, no space, nothing outside latin1.
const INVALID_TARGET = /[^\x21-\x7e\x80-\xff]/;

/**
 * The request line and header block of an HTTP/1.1 request, in one string written as latin1.
 * Validates what a header list from code (not from a parser) may hold: header names are tokens,
 * values have no CR, LF or NUL, no hop-by-hop framing names (the connection sets `host` unless
 * given, and `content-length` from the body); throws `MESHKIT_INVALID_REQUEST` otherwise.
 * `bodyLength` is the byte length of a buffered body, `undefined` for a stream (sent chunked
 * unless the caller gave its `content-length`), `null` for none. `headersChecked`: names and
 * values are known valid (`ExchangeRequest.headersChecked`) and are not tested again.
 */
export function requestHead(
  method: string,
  path: string,
  host: string,
  headers: readonly string[],
  bodyLength: number | undefined | null,
  headersChecked = false,
): { head: string; declaredLength: number | undefined } {
  if (!TOKEN.test(method)) throw invalidRequest(`invalid method ${JSON.stringify(method)}`);
  if (path.length === 0 || INVALID_TARGET.test(path)) throw invalidRequest(`invalid request target ${JSON.stringify(path)}`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hostGiven = false;
  let declaredLength: number | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (!headersChecked) {
      if (!TOKEN.test(name)) throw invalidRequest(`invalid header name ${JSON.stringify(name)}`);
      if (INVALID_VALUE.test(value)) throw invalidRequest(`invalid value of header ${name}`);
    }
    // Lengths first: most names are none of these and are not case-folded.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') hostGiven = true;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          declaredLength = contentLength(value, declaredLength);
          continue; // written below, once
        }
        break;
      case 6:
      case 7:
      case 10:
      case 17:
        if (REFUSED.has(name.toLowerCase())) throw invalidRequest(`header ${name} is the connection's own`);
        break;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (!hostGiven) head += `host: ${host}\r\n`;
  if (bodyLength === null) {
    if (declaredLength !== undefined && declaredLength !== 0) {
      throw invalidRequest(`content-length ${declaredLength} given without a body`);
    }
    // A method that defines a body says it has none (RFC 9110 §8.6), as undici and curl do.
    if (declaredLength === 0 || BODY_METHODS.has(method)) head += 'content-length: 0\r\n';
  } else if (bodyLength !== undefined) {
    if (declaredLength !== undefined && declaredLength !== bodyLength) {
      throw invalidRequest(`content-length ${declaredLength} given for a body of ${bodyLength} bytes`);
    }
    head += `content-length: ${bodyLength}\r\n`;
  } else if (declaredLength !== undefined) {
    head += `content-length: ${declaredLength}\r\n`;
  } else {
    head += 'transfer-encoding: chunked\r\n';
  }
  return { head: `${head}\r\n`, declaredLength };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function contentLength(value: string, before: number | undefined): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isNaN(n)) throw invalidRequest(`invalid content-length ${JSON.stringify(value)}`);
  if (before !== undefined && before !== n) throw invalidRequest('content-length given twice, differently');
  return n;
}
