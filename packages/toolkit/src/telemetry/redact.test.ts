import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { appLogger } from './access-log.js';
import { REDACTED, redactSecrets } from './redact.js';

describe('redactSecrets', () => {
  it('censors bodies and credential headers at the top and one level down, in a copy', () => {
    const line = {
      body: { password: 'x' },
      headers: { Authorization: 'Bearer x', cookie: 'c', accept: 'json' },
      upstream: { headers: { 'proxy-authorization': 'p', 'set-cookie': ['s'] }, body: 'b', status: 200 },
      deep: { inner: { body: 'kept: two levels down is not a place lines put bodies' } },
      count: 3,
    };
    const before = structuredClone(line);
    expect(redactSecrets(line)).toEqual({
      body: REDACTED,
      headers: { Authorization: REDACTED, cookie: REDACTED, accept: 'json' },
      upstream: { headers: { 'proxy-authorization': REDACTED, 'set-cookie': REDACTED }, body: REDACTED, status: 200 },
      deep: line.deep,
      count: 3,
    });
    expect(line).toEqual(before);
  });

  it('returns a line without secrets as it is, and leaves class instances to their serializers', () => {
    const line = { method: 'GET', statusCode: 200, err: Object.assign(new Error('x'), { body: 'e' }) };
    expect(redactSecrets(line)).toBe(line);
  });

  it('is applied by pino redact rules to a logger meshkit did not create', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = appLogger(pino(destination), { service: 'x' });
    log.info({ headers: { cookie: 'c' }, body: 'b' }, 'hi');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ service: 'x', headers: { cookie: REDACTED }, body: REDACTED });
  });
});
