import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';
import { isUniqueViolation } from './unique-violation.js';

interface DB {
  accounts: { id: string; email: string };
}

let store: Store<DB> | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function failureOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (e) {
    return e;
  }
  throw new Error('expected the write to fail');
}

describe('isUniqueViolation', () => {
  it('recognises SQLite unique and primary-key violations, and nothing else', async () => {
    store = await openSqliteStore<DB>({ file: ':memory:', migrations: {} });
    await sql`create table accounts (id text primary key, email text not null unique)`.execute(store.db);
    await store.db.insertInto('accounts').values({ id: 'a', email: 'a@example.com' }).execute();

    const sameKey = await failureOf(store.db.insertInto('accounts').values({ id: 'a', email: 'b@example.com' }).execute());
    const sameEmail = await failureOf(store.db.insertInto('accounts').values({ id: 'b', email: 'a@example.com' }).execute());
    const notNull = await failureOf(sql`insert into accounts (id) values ('c')`.execute(store.db));
    expect(isUniqueViolation(sameKey)).toBe(true);
    expect(isUniqueViolation(sameEmail)).toBe(true);
    expect(isUniqueViolation(notNull)).toBe(false);
  });

  it('recognises the PostgreSQL code 23505 and refuses non-errors', () => {
    expect(isUniqueViolation({ code: '23505' })).toBe(true);
    expect(isUniqueViolation({ code: '23503' })).toBe(false);
    for (const value of [undefined, null, 'SQLITE_CONSTRAINT_UNIQUE', 23505]) expect(isUniqueViolation(value)).toBe(false);
  });
});
