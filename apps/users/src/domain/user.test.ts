import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidUserInput } from './errors.js';
import { checkEmail, checkName, createUser, emailKey, updateUser } from './user.js';

const id = '0190a000-0000-7000-8000-000000000001';

describe('user rules', () => {
  it('creates a user with both times set to now, the name kept as sent', () => {
    const user = createUser({ name: ' John Doe ', email: 'john@example.com' }, id, 1700000000.5);
    expect(user).toEqual({
      id,
      name: ' John Doe ',
      email: 'john@example.com',
      createdAt: 1700000000.5,
      updatedAt: 1700000000.5,
    });
  });

  it.each(['', ' ', '\t\n', 'x'.repeat(201)])('refuses the name %j', (name) => {
    expect(() => checkName(name)).toThrow(InvalidUserInput);
  });

  it('counts characters, not UTF-16 units: 200 emoji are a valid name', () => {
    expect(checkName('😀'.repeat(200))).toHaveLength(400);
    expect(() => checkName('😀'.repeat(201))).toThrow(InvalidUserInput);
  });

  it.each(['', 'john', 'john@', '@example.com', 'john doe@example.com', `${'a'.repeat(245)}@example.com`])(
    'refuses the email %j',
    (email) => {
      expect(() => checkEmail(email)).toThrow(InvalidUserInput);
    },
  );

  it('accepts an email of exactly 254 characters', () => {
    const email = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(email).toHaveLength(254);
    expect(checkEmail(email)).toBe(email);
  });

  it('compares emails case-insensitively', () => {
    expect(emailKey('John@Example.COM')).toBe(emailKey('john@example.com'));
    fc.assert(fc.property(fc.emailAddress(), (e) => emailKey(e.toUpperCase()) === emailKey(e)));
  });

  it('updates only the given fields and moves updatedAt, never createdAt', () => {
    const user = createUser({ name: 'John Doe', email: 'john@example.com' }, id, 100);
    expect(updateUser(user, { name: 'Jane' }, 200)).toEqual({ ...user, name: 'Jane', updatedAt: 200 });
    expect(updateUser(user, { email: 'jane@example.com' }, 300)).toEqual({
      ...user,
      email: 'jane@example.com',
      updatedAt: 300,
    });
  });

  it('refuses an empty change set and invalid changes', () => {
    const user = createUser({ name: 'John Doe', email: 'john@example.com' }, id, 100);
    expect(() => updateUser(user, {}, 200)).toThrow(InvalidUserInput);
    expect(() => updateUser(user, { name: '  ' }, 200)).toThrow(InvalidUserInput);
    expect(() => updateUser(user, { email: 'nope' }, 200)).toThrow(InvalidUserInput);
  });
});
