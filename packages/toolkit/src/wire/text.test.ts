import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { charLength, NonBlankText, nonBlankTextProblem } from './text.js';

describe('charLength', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(charLength('')).toBe(0);
    expect(charLength('Ann')).toBe(3);
    expect(charLength('😀😀')).toBe(2);
  });
});

describe('non-blank text', () => {
  const schema = Compile(NonBlankText(5));
  const cases: Array<[string, string, boolean]> = [
    ['a plain name', 'Ann', true],
    ['surrounding spaces', ' Ann ', true],
    ['exactly the limit in astral characters', '😀'.repeat(5), true],
    ['empty', '', false],
    ['only whitespace', ' \t ', false],
    ['one character over', 'abcdef', false],
    ['astral characters over the limit', '😀'.repeat(6), false],
  ];
  it.each(cases)('schema and domain rule agree on %s', (_what, value, ok) => {
    expect(schema.Check(value)).toBe(ok);
    expect(nonBlankTextProblem('name', value, 5) === undefined).toBe(ok);
  });

  it('says which rule is broken', () => {
    expect(nonBlankTextProblem('name', '', 5)).toBe('name must have 1 to 5 characters');
    expect(nonBlankTextProblem('title', '   ', 5)).toBe('title must not be blank');
  });
});
