import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
