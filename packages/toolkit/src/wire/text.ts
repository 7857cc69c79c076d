import { Type } from 'typebox';

/** Length in characters (code points), as JSON Schema's maxLength counts them. */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}

/**
 * The wire schema of a required text kept as sent (a name): 1 to `maxLength` characters, at least
 * one not whitespace (`\S`), so "   " is refused while " Ann " is kept.
 */
export function NonBlankText(maxLength: number) {
  return Type.String({ minLength: 1, maxLength, pattern: '\\S' });
}

/** The same rule for the domain, where no schema ran: why `value` breaks it, or undefined when it keeps it. */
export function nonBlankTextProblem(field: string, value: string, maxLength: number): string | undefined {
  const length = charLength(value);
  if (length < 1 || length > maxLength) return `${field} must have 1 to ${maxLength} characters`;
  if (value.trim() === '') return `${field} must not be blank`;
  return undefined;
}
