import { describe, expect, it } from 'vitest';
import {
  clientResponseHeaders,
  isValidTraceparent,
  newTraceparent,
  stripHopByHop,
  upstreamRequestHeaders,
} from './headers.js';

const ctx = { requestId: 'req-1', remoteAddress: '10.0.0.9', protocol: 'http' as const };

describe('hop-by-hop filtering', () => {
  it('drops the standard hop-by-hop headers and those the Connection header names', () => {
    const out = stripHopByHop({
      connection: 'keep-alive, X-Custom',
      'keep-alive': 'timeout=5',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic abc',
      te: 'trailers',
      trailer: 'x-sum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'x-custom': '1',
      'content-type': 'application/json',
      'set-cookie': ['a=1', 'b=2'],
      etag: '"v1"',
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], etag: '"v1"' });
  });

  it('keeps content-length on responses (the body is forwarded byte for byte)', () => {
    expect(clientResponseHeaders({ 'content-length': '12', connection: 'close' })).toEqual({ 'content-length': '12' });
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
