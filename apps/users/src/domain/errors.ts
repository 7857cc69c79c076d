import { DomainError } from '@meshkit/toolkit';

/**
 * What can go wrong in the users domain: DomainErrors with a `kind`, which the HTTP edge
 * (routes.ts) turns into MeshErrors, so the domain never knows about status codes.
 */
export abstract class UserDomainError extends DomainError {}

/** Input that breaks a rule of the domain (a name of spaces, an empty change set). */
export class InvalidUserInput extends UserDomainError {
  readonly kind = 'invalid';
  override readonly name = 'InvalidUserInput';
}

export class UserNotFound extends UserDomainError {
  readonly kind = 'not_found';
  override readonly name = 'UserNotFound';
  constructor(readonly id: string) {
    super(`user ${id} not found`);
  }
}

/** Another user already has this email, compared case-insensitively. */
export class EmailAlreadyInUse extends UserDomainError {
  readonly kind = 'conflict';
  override readonly name = 'EmailAlreadyInUse';
  constructor(readonly email: string) {
    super(`email ${email} is already in use`);
  }
}
