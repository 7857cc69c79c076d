import { type ErrorCode, MeshError } from '../errors.js';

/** The kinds of failure a service's domain reports; each answers with one catalogue code. */
export type DomainErrorKind = 'invalid' | 'not_found' | 'conflict' | 'unprocessable';

const CODE_OF_KIND = {
  invalid: 'VALIDATION_FAILED',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  unprocessable: 'UNPROCESSABLE',
} as const satisfies Record<DomainErrorKind, ErrorCode>;

/**
 * Base of a service's own business errors. They say what went wrong in the domain's words and
 * carry a `kind`; the problem handler turns them into MeshErrors, so the domain never knows status codes.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

/** The problem a domain error answers with: its kind's code, its message as the detail. */
export function toMeshError(e: DomainError): MeshError {
  return new MeshError(CODE_OF_KIND[e.kind], e.message, { cause: e });
}
