import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';

function sink() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes one JSON object per line with level, time, name and base fields', () => {
    const { lines, destination } = sink();
    const log = createLogger({ level: 'debug', name: 'user-service', base: { instance: 'i-1' }, destination });
    log.debug({ orderId: 'o-1' }, 'reserved stock');
    log.trace('not at this level');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '');
    expect(line).toMatchObject({
      level: 20,
      name: 'user-service',
      instance: 'i-1',
      pid: process.pid,
      orderId: 'o-1',
      msg: 'reserved stock',
    });
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  it("stamps every line with its own millisecond's ISO time, within a second and across seconds", () => {
    const { lines, destination } = sink();
    const log = createLogger({ destination });
    const times = [
      Date.UTC(2026, 11, 1, 7, 30, 15, 0),
      Date.UTC(2026, 11, 1, 7, 30, 15, 7),
      Date.UTC(2026, 11, 1, 7, 30, 15, 7),
      Date.UTC(2026, 11, 1, 7, 30, 15, 42),
      Date.UTC(2026, 11, 1, 7, 30, 15, 999),
      Date.UTC(2026, 11, 1, 7, 30, 16, 100),
      Date.UTC(2026, 11, 31, 23, 59, 59, 5),
      Date.UTC(2027, 0, 1, 0, 0, 0, 50),
    ];
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const t of times) {
        vi.setSystemTime(t);
        log.info('tick');
      }
    } finally {
      vi.useRealTimers();
    }
    expect(lines.map((l) => JSON.parse(l).time)).toEqual(times.map((t) => new Date(t).toISOString()));
  });

  it('defaults to info and can be silenced', () => {
    const a = sink();
    const info = createLogger({ destination: a.destination });
    info.debug('hidden');
    info.info('shown');
    expect(a.lines).toHaveLength(1);
    const b = sink();
    const silent = createLogger({ level: 'silent', destination: b.destination });
    silent.fatal('nothing');
    expect(b.lines).toEqual([]);
  });

  it('refuses an unknown level', () => {
    expect(() => createLogger({ level: 'verbose' })).toThrow();
  });

  it('writes lines for people when asked (the default on a terminal), JSON lines otherwise', () => {
    const people = sink();
    createLogger({ pretty: true, name: 'user-service', destination: people.destination }).info({ orderId: 'o-1' }, 'reserved stock');
    expect(people.lines.length).toBeGreaterThan(0);
    expect(() => JSON.parse(people.lines[0] ?? '')).toThrow();
    expect(people.lines.join('\n')).toMatch(/INFO.*\(user-service\).*reserved stock/);
    expect(people.lines.join('\n')).toContain('orderId: "o-1"');

    // A destination given (a file, a pipe, a test) is not a terminal: JSON unless told otherwise.
    const machines = sink();
    createLogger({ destination: machines.destination }).info('reserved stock');
    expect(JSON.parse(machines.lines[0] ?? '')).toMatchObject({ msg: 'reserved stock' });
  });
});
