import { charLength, nonBlankTextProblem } from '@meshkit/toolkit';
import { InvalidUserInput } from './errors.js';

/** A user as the domain sees it; times are epoch seconds (fractional), like the seed's time.time(). */
export interface User {
  id: string;
  name: string;
  email: string;
  createdAt: number;
  updatedAt: number;
}

export interface NewUser {
  name: string;
  email: string;
}

/** Changes a client may make; any other field is refused before it gets here. */
export interface UserChanges {
  name?: string;
  email?: string;
}

export const NAME_MAX_LENGTH = 200;
export const EMAIL_MAX_LENGTH = 254;

// The same shape ajv-formats checks for `format: 'email'`, kept here so the rule holds without HTTP.
const EMAIL =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** A name is kept as sent, but must have 1–200 characters and not be only whitespace. */
export function checkName(name: string): string {
  const problem = nonBlankTextProblem('name', name, NAME_MAX_LENGTH);
  if (problem !== undefined) throw new InvalidUserInput(problem);
  return name;
}

export function checkEmail(email: string): string {
  if (charLength(email) > EMAIL_MAX_LENGTH || !EMAIL.test(email)) {
    throw new InvalidUserInput(`email must be a valid address of at most ${EMAIL_MAX_LENGTH} characters`);
  }
  return email;
}

/** The form emails are compared (and kept unique) in: `John@Example.com` and `john@example.com` clash. */
export function emailKey(email: string): string {
  return email.toLowerCase();
}

export function createUser(input: NewUser, id: string, nowSeconds: number): User {
  return {
    id,
    name: checkName(input.name),
    email: checkEmail(input.email),
    createdAt: nowSeconds,
    updatedAt: nowSeconds,
  };
}

/** Applies only `name` and `email`; an empty change set is a client error, not a no-op. */
export function updateUser(user: User, changes: UserChanges, nowSeconds: number): User {
  if (changes.name === undefined && changes.email === undefined) {
    throw new InvalidUserInput('give at least one of name, email');
  }
  return {
    ...user,
    name: changes.name === undefined ? user.name : checkName(changes.name),
    email: changes.email === undefined ? user.email : checkEmail(changes.email),
    updatedAt: nowSeconds,
  };
}
