import { expect } from 'vitest';

/**
 * The checks of one scenario: each is recorded (so the report shows what was missed) before
 * `assert()` fails the test with every miss at once.
 */
export class Verdict {
  readonly misses: string[] = [];

  check(what: string, ok: boolean, detail = ''): void {
    if (!ok) this.misses.push(detail ? `${what}: ${detail}` : what);
  }

  get met(): boolean {
    return this.misses.length === 0;
  }

  assert(): void {
    expect(this.misses, this.misses.join('\n')).toEqual([]);
  }
}
