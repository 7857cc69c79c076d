import { describe, expect, it } from 'vitest';
import {
  deadlineFromHeaders,
  MAX_REQUEST_TIMEOUT_MS,
  REQUEST_TIMEOUT_HEADER,
  remainingMs,
  requestTimeoutHeaderValue,
} from './deadline.js';

describe('deadlines on the wire (x-request-timeout-ms)', () => {
  it('turns the remaining milliseconds into a deadline on the local clock', () => {
    expect(REQUEST_TIMEOUT_HEADER).toBe('x-request-timeout-ms');
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': '1500' }, 10_000)).toBe(11_500);
    expect(deadlineFromHeaders({ 'X-Request-Timeout-Ms': ' 20 ' }, 0)).toBe(20);
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': '0' }, 7)).toBe(7);
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': ['250', '250'] }, 0)).toBe(250);
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': String(MAX_REQUEST_TIMEOUT_MS) }, 0)).toBe(
      MAX_REQUEST_TIMEOUT_MS,
    );
  });

  it('refuses an absent, garbled, negative, fractional, ambiguous or huge value', () => {
    const refused = [
      undefined,
      '',
      'soon',
      '-5',
      '+5',
      '1.5',
      '1e3',
      '0x10',
      '10ms',
      'Infinity',
      String(MAX_REQUEST_TIMEOUT_MS + 1),
      '99999999999999999999',
    ];
    for (const value of refused) {
      expect(deadlineFromHeaders({ 'x-request-timeout-ms': value }, 1000), String(value)).toBeUndefined();
    }
    expect(deadlineFromHeaders({}, 0)).toBeUndefined();
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': ['100', '200'] }, 0)).toBeUndefined();
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': [] }, 0)).toBeUndefined();
  });

  it('remainingMs never goes below 0; the header value is whole and rounded down', () => {
    expect(remainingMs(1000, 400)).toBe(600);
    expect(remainingMs(1000, 1400)).toBe(0);
    expect(requestTimeoutHeaderValue(199.9)).toBe('199');
    expect(requestTimeoutHeaderValue(-3)).toBe('0');
    // A round trip through the header never lengthens a deadline.
    const now = 5_000;
    const sent = requestTimeoutHeaderValue(remainingMs(8_000.7, now));
    expect(deadlineFromHeaders({ 'x-request-timeout-ms': sent }, now)).toBe(8_000);
  });
});
