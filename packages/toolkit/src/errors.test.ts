import { describe, expect, it } from 'vitest';
import { errorCatalogue, MeshError, problemType, type ErrorCode } from './errors.js';

describe('error catalogue', () => {
  const codes = Object.keys(errorCatalogue) as ErrorCode[];

  it.each(codes)('%s has an HTTP error status, a title and a stable problem type', (code) => {
    const spec = errorCatalogue[code];
    expect(spec.status).toBeGreaterThanOrEqual(400);
    expect(spec.status).toBeLessThan(600);
    expect(spec.title.length).toBeGreaterThan(0);
    expect(problemType(code)).toMatch(/^urn:meshkit:problem:[a-z-]+$/);
  });

  it('gives every code its own problem type', () => {
    expect(new Set(codes.map(problemType)).size).toBe(codes.length);
  });

  it('marks only client errors other than 429 as not retryable', () => {
    for (const code of codes) {
      const { status, retryable } = errorCatalogue[code];
      if (status >= 400 && status < 500 && status !== 429) expect(retryable, code).toBe(false);
      if (status === 502 || status === 503 || status === 504) expect(retryable, code).toBe(true);
    }
  });

  it('carries status, retryability and Retry-After on the error itself', () => {
    const e = new MeshError('NO_HEALTHY_INSTANCE', 'no healthy instance of product-service', { retryAfter: 3 });
    expect(e).toBeInstanceOf(Error);
    expect(e.status).toBe(503);
    expect(e.retryable).toBe(true);
    expect(e.retryAfter).toBe(3);
    expect(e.message).toBe('no healthy instance of product-service');
  });
});
