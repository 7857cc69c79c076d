import { describe, expect, it } from 'vitest';
import {
  clientResponseHeaderList,
  isValidTraceparent,
  newTraceparent,
  upstreamRequestHeaders,
} from './headers.js';

const ctx = { requestId: 'req-1', remoteAddress: '10.0.0.9', protocol: 'http' as const };

/** A response head as the parser reads it: names and values as latin1 strings, in order. */
function raw(...pairs: string[]): string[] {
  return pairs;
}

const plain = { own: {}, requestId: 'req-1', close: false };

describe('the head returned to the client', () => {
  it('drops the standard hop-by-hop headers and those the Connection header names, keeping the rest in order', () => {
    const out = clientResponseHeaderList(
      raw(
        'Connection', 'keep-alive, X-Custom',
        'Keep-Alive', 'timeout=5',
        'Proxy-Authenticate', 'Basic',
        'proxy-authorization', 'Basic abc',
        'TE', 'trailers',
        'trailer', 'x-sum',
        'Transfer-Encoding', 'chunked',
        'upgrade', 'websocket',
        'x-custom', '1',
        'Content-Type', 'application/json',
        'set-cookie', 'a=1',
        'ETag', '"v1"',
        'Set-Cookie', 'b=2',
      ),
      plain,
    );
    expect(out).toEqual([
      'content-type', 'application/json',
      'set-cookie', 'a=1',
      'etag', '"v1"',
      'set-cookie', 'b=2',
      'x-request-id', 'req-1',
    ]);
  });

  it('drops the headers named by every Connection line, not only the last', () => {
    const out = clientResponseHeaderList(
      raw('Connection', 'X-One', 'x-one', '1', 'connection', 'keep-alive, X-Two', 'X-Two', '2', 'etag', '"v1"'),
      plain,
    );
    expect(out).toEqual(['etag', '"v1"', 'x-request-id', 'req-1']);
  });

  it('keeps content-length (the body is forwarded byte for byte) and passes bytes through as latin1', () => {
    const out = clientResponseHeaderList(
      ['content-length', '12', 'x-name', Buffer.from([0x63, 0xe9]).toString('latin1')],
      plain,
    );
    expect(out).toEqual(['content-length', '12', 'x-name', 'c\u00e9', 'x-request-id', 'req-1']);
  });

  it("sends this request's id, adds the gateway's own headers under the upstream's, and closes when draining", () => {
    const out = clientResponseHeaderList(raw('x-request-id', 'upstream-id', 'vary', 'accept'), {
      own: { vary: 'origin', 'access-control-allow-origin': 'https://shop.example', 'x-fault': ['a', 'b'], skipped: undefined },
      requestId: 'req-9',
      close: true,
    });
    expect(out).toEqual([
      'vary', 'accept',
      'access-control-allow-origin', 'https://shop.example',
      'x-fault', 'a',
      'x-fault', 'b',
      'x-request-id', 'req-9',
      'connection', 'close',
    ]);
  });
});

describe('upstream request headers', () => {
  it('replaces host, length and expect, and forwards the client view', () => {
    const out = upstreamRequestHeaders(
      {
        host: 'shop.example:8000',
        'content-length': '5',
        expect: '100-continue',
        'content-type': 'text/plain',
        authorization: 'Bearer t',
        connection: 'x-secret',
        'x-secret': 'hop',
      },
      ctx,
    );
    expect(out.host).toBeUndefined();
    expect(out['content-length']).toBeUndefined();
    expect(out.expect).toBeUndefined();
    expect(out['x-secret']).toBeUndefined();
    expect(out['content-type']).toBe('text/plain');
    expect(out.authorization).toBe('Bearer t');
    expect(out['x-forwarded-host']).toBe('shop.example:8000');
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-for']).toBe('10.0.0.9');
    expect(out['x-request-id']).toBe('req-1');
  });

  it('appends the client address to an existing x-forwarded-for and overrides a claimed host/proto', () => {
    const out = upstreamRequestHeaders(
      { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil', host: 'gw' },
      ctx,
    );
    expect(out['x-forwarded-for']).toBe('1.2.3.4, 10.0.0.9');
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-host']).toBe('gw');
  });

  it('sends this request id, not a different one the client put in the headers', () => {
    expect(upstreamRequestHeaders({ 'x-request-id': 'other' }, ctx)['x-request-id']).toBe('req-1');
  });

  it('passes a valid traceparent and its tracestate through', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const out = upstreamRequestHeaders({ traceparent: tp, tracestate: 'k=v' }, ctx);
    expect(out.traceparent).toBe(tp);
    expect(out.tracestate).toBe('k=v');
  });

  it('starts a new trace when traceparent is absent or invalid, dropping a stale tracestate', () => {
    const none = upstreamRequestHeaders({}, ctx).traceparent as string;
    expect(isValidTraceparent(none)).toBe(true);
    const bad = upstreamRequestHeaders({ traceparent: 'garbage', tracestate: 'k=v' }, ctx);
    expect(bad.traceparent).not.toBe('garbage');
    expect(isValidTraceparent(bad.traceparent as string)).toBe(true);
    expect(bad.tracestate).toBeUndefined();
  });
});

describe('traceparent', () => {
  it('generates the version 00 sampled layout, fresh every time', () => {
    const a = newTraceparent();
    expect(a).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(newTraceparent()).not.toBe(a);
  });

  it('refuses malformed values', () => {
    expect(isValidTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBe(false);
    expect(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBe(false);
    expect(isValidTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(false);
    expect(isValidTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')).toBe(false);
    expect(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).toBe(false);
    expect(isValidTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).toBe(true);
  });
});
