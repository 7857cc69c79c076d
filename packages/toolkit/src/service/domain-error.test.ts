import { describe, expect, it } from 'vitest';
import { MeshError } from '../errors.js';
import { createServiceApp } from './create-app.js';
import { DomainError, type DomainErrorKind, toMeshError } from './domain-error.js';

class Refused extends DomainError {
  override readonly name = 'Refused';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
  ) {
    super(message);
  }
}

describe('toMeshError', () => {
  it.each([
    ['invalid', 'VALIDATION_FAILED', 400],
    ['not_found', 'NOT_FOUND', 404],
    ['conflict', 'CONFLICT', 409],
    ['unprocessable', 'UNPROCESSABLE', 422],
  ] as const)('maps %s to %s (%i), keeping the message as detail and the error as cause', (kind, code, status) => {
    const domain = new Refused(kind, `refused: ${kind}`);
    const mesh = toMeshError(domain);
    expect(mesh).toBeInstanceOf(MeshError);
    expect(mesh.code).toBe(code);
    expect(mesh.status).toBe(status);
    expect(mesh.message).toBe(`refused: ${kind}`);
    expect(mesh.cause).toBe(domain);
  });
});

describe('a domain error thrown by a route', () => {
  it('answers as its kind’s problem, with the domain message as detail', async () => {
    const app = createServiceApp({ logger: false });
    app.get('/taken', async () => {
      throw new Refused('conflict', 'taken');
    });
    const res = await app.inject({ method: 'GET', url: '/taken' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 409, detail: 'taken' });
    await app.close();
  });
});
