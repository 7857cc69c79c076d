import { describe, expect, it } from 'vitest';
import { MeshError } from '../errors.js';
import { DomainError, type DomainErrorKind, toMeshError, withDomainErrors } from './domain-error.js';

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

describe('withDomainErrors', () => {
  it('returns what the work returns', async () => {
    await expect(withDomainErrors(async () => 42)).resolves.toBe(42);
  });

  it('turns a thrown domain error into its MeshError', async () => {
    const thrown = withDomainErrors(async () => {
      throw new Refused('conflict', 'taken');
    });
    await expect(thrown).rejects.toMatchObject({ code: 'CONFLICT', status: 409, message: 'taken' });
  });

  it('passes anything else through untouched, an upstream MeshError included', async () => {
    const upstream = new MeshError('UPSTREAM_TIMEOUT', 'slow');
    const plain = new TypeError('bug');
    await expect(withDomainErrors(() => Promise.reject(upstream))).rejects.toBe(upstream);
    await expect(withDomainErrors(() => Promise.reject(plain))).rejects.toBe(plain);
  });
});
