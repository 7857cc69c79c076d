import { describe, expect, it } from 'vitest';
import { pageReply } from './paging.js';

function recordingReply() {
  const headers: Record<string, string> = {};
  return {
    headers,
    header(name: string, value: string) {
      headers[name] = value;
    },
  };
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `id-${i}` }));

describe('pageReply', () => {
  it('returns a full page and links to the next one when a further row was fetched', () => {
    const reply = recordingReply();
    expect(pageReply(reply, rows(3), { limit: 2 }, '/things')).toEqual(rows(2));
    expect(reply.headers).toEqual({ link: '</things?limit=2&after=id-1>; rel="next"' });
  });

  it('sets no Link on the last page', () => {
    const reply = recordingReply();
    expect(pageReply(reply, rows(2), { limit: 2, after: 'x' }, '/things')).toEqual(rows(2));
    expect(reply.headers).toEqual({});
  });
});
