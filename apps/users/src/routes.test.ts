import { randomBytes, randomUUID } from 'node:crypto';
import { isUuid } from '@meshkit/toolkit';
import { describe, expect, it } from 'vitest';
import { engines, expectProblem, type Json, useServiceHarness } from '../../../test/support/service-harness.js';
import { createUsersApp } from './main.js';
import { usersMigrations } from './store/migrations.js';
import type { UsersDatabase } from './store/tables.js';

const john = { name: 'John Doe', email: 'john@example.com' };
const unknownId = '0190a000-0000-7000-8000-000000000099';

describe.each(engines)('users on %s', (engine) => {
  const service = useServiceHarness({ name: 'users', engine, open: createUsersApp, startAt: 1_700_000_000_000 });
  const { send, inject } = service;

  const createUser = (body: Json = john): Promise<Json> => service.create('/users', body);

  /** Every user, following the Link headers from the first page. */
  const allUsers = (limit = 1000): Promise<Json[]> => service.allPages(`/users?limit=${limit}`);

  describe('POST /users', () => {
    it('creates the seed user: 201 with id, name, email and epoch-second times', async () => {
      const res = await send('POST', '/users', john);
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({ id: expect.any(String), ...john, created_at: 1_700_000_000, updated_at: 1_700_000_000 });
      expect(isUuid(res.body?.id as string)).toBe(true);
      expect((await send('GET', `/users/${res.body?.id}`)).body).toEqual(res.body);
    });

    it('keeps a name as sent, surrounding spaces included', async () => {
      expect((await createUser({ name: '  Ann  ', email: 'ann@example.com' })).name).toBe('  Ann  ');
    });

    const bad: [string, unknown][] = [
      ['no name', { email: 'john@example.com' }],
      ['no email', { name: 'John Doe' }],
      ['an empty name', { name: '', email: 'john@example.com' }],
      ['a whitespace-only name', { name: ' \t ', email: 'john@example.com' }],
      ['a 201-character name', { name: 'x'.repeat(201), email: 'john@example.com' }],
      ['a number for a name', { name: 12, email: 'john@example.com' }],
      ['a null name', { name: null, email: 'john@example.com' }],
      ['an invalid email', { name: 'John Doe', email: 'not-an-email' }],
      ['an email with a space', { name: 'John Doe', email: 'john doe@example.com' }],
      ['a 255-character email', { name: 'John Doe', email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}` }],
      ['an unknown field', { ...john, admin: true }],
      ['a client-chosen id', { ...john, id: unknownId }],
      ['a client-chosen created_at', { ...john, created_at: 1 }],
      ['an array body', [john]],
      ['a string body', 'John Doe'],
    ];
    it.each(bad)('refuses %s with a 400 problem and stores nothing', async (_what, body) => {
      expectProblem(await send('POST', '/users', body), 400);
      expect(await allUsers()).toEqual([]);
    });

    it('refuses malformed JSON (400) and a non-JSON content type (415)', async () => {
      const broken = await inject({
        method: 'POST',
        url: '/users',
        headers: { 'content-type': 'application/json' },
        payload: '{"name": "John Doe",',
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.headers['content-type']).toMatch(/^application\/problem\+json/);
      const form = await inject({
        method: 'POST',
        url: '/users',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'name=John&email=john%40example.com',
      });
      expect(form.statusCode).toBe(415);
      expect(await allUsers()).toEqual([]);
    });

    it('accepts a 200-character name and a 254-character email', async () => {
      const email = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
      const user = await createUser({ name: 'x'.repeat(200), email });
      expect(user.email).toBe(email);
    });

    it('refuses an email another user has in any letter case: 409, nothing stored', async () => {
      const first = await createUser();
      expectProblem(await send('POST', '/users', { name: 'Other', email: 'JOHN@Example.COM' }), 409);
      expect(await allUsers()).toEqual([first]);
    });

    it('lets only one of many concurrent sign-ups with one email through', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send('POST', '/users', { name: `J${i}`, email: i % 2 ? 'x@e.com' : 'X@E.com' })),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(19);
      expect(await allUsers()).toHaveLength(1);
    });
  });

  describe('GET /users/{id}', () => {
    it('is 404 for an unknown id and for an id that is not a UUID', async () => {
      expectProblem(await send('GET', `/users/${unknownId}`), 404);
      expectProblem(await send('GET', '/users/not-a-uuid'), 404);
      expectProblem(await send('GET', `/users/${unknownId.toUpperCase()}`), 404);
    });
  });

  describe('GET /users', () => {
    it('is an empty array without users, and no Link', async () => {
      const res = await send('GET', '/users');
      expect(res.status).toBe(200);
      expect(res.raw.json()).toEqual([]);
      expect(res.headers.link).toBeUndefined();
    });

    it('visits every user exactly once across pages, in id order, with a correct Link', async () => {
      const created: Json[] = [];
      for (let i = 0; i < 23; i++) created.push(await createUser({ name: `User ${i}`, email: `u${i}@example.com` }));

      const first = await inject({ method: 'GET', url: '/users?limit=5' });
      expect(first.json()).toHaveLength(5);
      const lastOnFirst = (first.json() as Json[])[4]?.id;
      expect(first.headers.link).toBe(`</users?limit=5&after=${lastOnFirst}>; rel="next"`);

      const walked = await allUsers(5);
      expect(walked).toHaveLength(23);
      expect(walked.map((u) => u.id)).toEqual(created.map((u) => u.id).sort());
      expect(new Set(walked.map((u) => u.id)).size).toBe(23);
      expect(walked).toEqual(expect.arrayContaining(created));

      // exactly limit rows left: the last page has no Link
      const tail = await inject({ method: 'GET', url: `/users?limit=3&after=${walked[19]?.id}` });
      expect(tail.json()).toHaveLength(3);
      expect(tail.headers.link).toBeUndefined();
    });

    it('stays stable under concurrent inserts: every earlier user is seen once, no id twice', async () => {
      const earlier: string[] = [];
      for (let i = 0; i < 40; i++) earlier.push((await createUser({ name: `User ${i}`, email: `u${i}@example.com` })).id as string);

      // Another client writes beside the service: through the API (ids after every one), and straight
      // into the store with ids before every one and beside a random earlier one, where the pages
      // already read lie. Paging by offset would then show a user twice; paging by key cannot.
      const other = await service.openStore<UsersDatabase>('users', usersMigrations);
      const row = (id: string, key: string) => ({ id, name: key, email: `${key}@example.com`, email_key: `${key}@example.com`, created_at: 0, updated_at: 0 });
      let started = 0;
      let finished = 0;
      let paging = true;
      const insertRound = async () => {
        const k = ++started;
        const near = earlier[Math.floor(Math.random() * earlier.length)] ?? '';
        await Promise.all([
          createUser({ name: `New ${k}`, email: `new${k}@example.com` }),
          other.db.insertInto('users').values(row(`00${randomUUID().slice(2)}`, `first${k}`)).execute(),
          other.db.insertInto('users').values(row(`${near.slice(0, 24)}${randomBytes(6).toString('hex')}`, `near${k}`)).execute(),
        ]);
        finished += 1;
      };
      const inserter = (async () => {
        while (paging) {
          await insertRound();
          await new Promise((r) => setImmediate(r)); // never starve the paging client
        }
      })();

      const seen: string[] = [];
      let url: string | undefined = '/users?limit=7';
      let pages = 0;
      try {
        while (url) {
          const roundsBefore = finished;
          const res = await inject({ method: 'GET', url });
          expect(res.statusCode).toBe(200);
          const page = res.json<Json[]>();
          expect(page.length).toBeLessThanOrEqual(7);
          seen.push(...page.map((u) => u.id as string));
          url = (res.headers.link as string | undefined)?.match(/^<([^>]+)>; rel="next"$/)?.[1];
          pages += 1;
          expect(pages).toBeLessThan(200);
          // At least one round of inserts lands between any two pages.
          while (url && finished === roundsBefore) await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        paging = false;
        await inserter;
      }

      expect(pages).toBeGreaterThan(40 / 7);
      expect(finished).toBeGreaterThanOrEqual(pages - 1);
      expect(new Set(seen).size).toBe(seen.length);
      const seenOnce = new Set(seen);
      expect(earlier.filter((id) => !seenOnce.has(id))).toEqual([]);
      expect(seen).toEqual([...seen].sort());
    });

    it('pages 100 at a time by default', async () => {
      for (let i = 0; i < 101; i++) await createUser({ name: `User ${i}`, email: `u${i}@example.com` });
      const res = await inject({ method: 'GET', url: '/users' });
      expect(res.json()).toHaveLength(100);
      expect(res.headers.link).toMatch(/^<\/users\?limit=100&after=[0-9a-f-]{36}>; rel="next"$/);
    });

    it.each(['limit=0', 'limit=1001', 'limit=abc', 'limit=-1', 'limit=1.5', 'after=nope', 'color=red'])(
      'refuses ?%s with a 400 problem',
      async (query) => {
        expectProblem(await send('GET', `/users?${query}`), 400);
      },
    );
  });

  describe('PUT /users/{id}', () => {
    it('changes only the fields given, and moves updated_at', async () => {
      const user = await createUser();
      service.clock.advance(1500);
      const renamed = await send('PUT', `/users/${user.id}`, { name: 'Jane Doe' });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toEqual({ ...user, name: 'Jane Doe', updated_at: 1_700_000_001.5 });

      const moved = await send('PUT', `/users/${user.id}`, { email: 'jane@example.com' });
      expect(moved.body).toEqual({ ...user, name: 'Jane Doe', email: 'jane@example.com', updated_at: 1_700_000_001.5 });
      expect((await send('GET', `/users/${user.id}`)).body).toEqual(moved.body);
    });

    const bad: [string, unknown][] = [
      ['an empty body', {}],
      ['an id', { id: unknownId }],
      ['a created_at', { created_at: 1 }],
      ['a known field with an unknown one', { name: 'Jane', role: 'admin' }],
      ['a blank name', { name: '   ' }],
      ['a 201-character name', { name: 'x'.repeat(201) }],
      ['an invalid email', { email: 'jane' }],
      ['a null email', { email: null }],
    ];
    it.each(bad)('refuses %s with a 400 problem and changes nothing', async (_what, body) => {
      const user = await createUser();
      expectProblem(await send('PUT', `/users/${user.id}`, body), 400);
      expect(await allUsers()).toEqual([user]);
    });

    it('refuses another user’s email in any case (409) but lets a user re-case their own', async () => {
      const john1 = await createUser();
      const jane = await createUser({ name: 'Jane', email: 'jane@example.com' });
      expectProblem(await send('PUT', `/users/${jane.id}`, { email: 'John@Example.com' }), 409);
      expect((await send('GET', `/users/${jane.id}`)).body).toEqual(jane);
      const recased = await send('PUT', `/users/${john1.id}`, { email: 'JOHN@example.com' });
      expect(recased.status).toBe(200);
      expect(recased.body?.email).toBe('JOHN@example.com');
    });

    it('is 404 for an unknown or malformed id', async () => {
      expectProblem(await send('PUT', `/users/${unknownId}`, { name: 'X' }), 404);
      expectProblem(await send('PUT', '/users/123', { name: 'X' }), 404);
    });
  });

  describe('DELETE /users/{id}', () => {
    it('deletes with the seed’s message, then is 404, and frees the email', async () => {
      const user = await createUser();
      const res = await send('DELETE', `/users/${user.id}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ message: 'User deleted successfully' });
      expectProblem(await send('GET', `/users/${user.id}`), 404);
      expectProblem(await send('DELETE', `/users/${user.id}`), 404);
      expectProblem(await send('DELETE', '/users/nope'), 404);
      await createUser({ name: 'John again', email: 'JOHN@example.com' });
    });
  });

  describe('restart', () => {
    it('keeps users across close and reopen of the same data dir', async () => {
      const user = await createUser();
      await service.restart();
      expect((await send('GET', `/users/${user.id}`)).body).toEqual(user);
      expectProblem(await send('POST', '/users', { name: 'Dup', email: 'john@EXAMPLE.com' }), 409);
    });
  });

  describe('readiness', () => {
    it('pings the database once started', async () => {
      await service.handle.start();
      const res = await send('GET', '/health/ready');
      expect(res.status).toBe(200);
    });
  });
});
