import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, type Migration, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PG_URL, pgUp } from '../../../../test/support/backends.js';
import { openStore } from './open-store.js';
import { openPostgresStore } from './postgres-store.js';
import { storeFile } from './sqlite-store.js';
import type { Store } from './store.js';
import { isUniqueViolation } from './unique-violation.js';

interface Accounts {
  accounts: { id: string; balance_cents: number };
}
interface Items {
  items: { id: string };
}

let accountRuns = 0;
const accountMigrations: Record<string, Migration> = {
  '0001_accounts': {
    async up(db: Kysely<unknown>) {
      accountRuns += 1;
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('balance_cents', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};
const itemMigrations: Record<string, Migration> = {
  '0001_items': {
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('items').addColumn('id', 'text', (c) => c.primaryKey()).execute();
    },
  },
};

const runTag = `ps${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
let testCount = 0;
const postgresUp = await pgUp();

describe.runIf(postgresUp)('openPostgresStore', () => {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const stores: Store<unknown>[] = [];
  let prefix = '';

  const open = async <DB>(schema: string, migrations: Record<string, Migration>, url = PG_URL): Promise<Store<DB>> => {
    const store = await openPostgresStore<DB>({ url, schema: `${prefix}${schema}`, migrations });
    stores.push(store as Store<unknown>);
    return store;
  };
  const connectionsOf = async (schema: string): Promise<number> => {
    const { rows } = await admin.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where application_name = $1',
      [`meshkit-${prefix}${schema}`],
    );
    return rows[0]?.n ?? 0;
  };

  beforeEach(() => {
    testCount += 1;
    prefix = `${runTag}_${testCount}_`;
    accountRuns = 0;
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    const { rows } = await admin.query<{ name: string }>(
      'select nspname as name from pg_namespace where left(nspname, length($1)) = $1',
      [prefix],
    );
    for (const { name } of rows) await admin.query(`drop schema ${pg.escapeIdentifier(name)} cascade`);
  });

  afterAll(() => admin.end());

  it('keeps each service in its own schema: one cannot see the other’s tables', async () => {
    const users = await open<Accounts>('users', accountMigrations);
    const products = await open<Items>('products', itemMigrations);
    expect(users.dialect).toBe('postgres');
    await users.db.insertInto('accounts').values({ id: 'a', balance_cents: 5 }).execute();
    await products.db.insertInto('items').values({ id: 'i' }).execute();

    const tablesIn = async (schema: string) =>
      (
        await admin.query<{ t: string }>('select table_name as t from information_schema.tables where table_schema = $1 order by 1', [
          `${prefix}${schema}`,
        ])
      ).rows.map((r) => r.t);
    expect(await tablesIn('users')).toEqual(['accounts', 'kysely_migration', 'kysely_migration_lock']);
    expect(await tablesIn('products')).toEqual(['items', 'kysely_migration', 'kysely_migration_lock']);

    const seen = await sql<{ schema: string }>`select current_schema() as schema`.execute(users.db);
    expect(seen.rows).toEqual([{ schema: `${prefix}users` }]);
    await expect(sql`select * from items`.execute(users.db)).rejects.toMatchObject({ code: '42P01' });
    await expect(sql`select * from accounts`.execute(products.db)).rejects.toMatchObject({ code: '42P01' });

    // Introspection (what the Migrator checks its tables with) sees the store's own schema only.
    expect(await users.db.introspection.getSchemas()).toEqual([{ name: `${prefix}users` }]);
    expect(await users.db.introspection.getTables()).toEqual([
      {
        name: 'accounts',
        schema: `${prefix}users`,
        isView: false,
        columns: [
          { name: 'id', dataType: 'text', dataTypeSchema: 'pg_catalog', isAutoIncrementing: false, isNullable: false, hasDefaultValue: false },
          { name: 'balance_cents', dataType: 'int8', dataTypeSchema: 'pg_catalog', isAutoIncrementing: false, isNullable: false, hasDefaultValue: false },
        ],
      },
    ]);
    const withInternal = await products.db.introspection.getTables({ withInternalKyselyTables: true });
    expect(withInternal.map((t) => t.name)).toEqual(['items', 'kysely_migration', 'kysely_migration_lock']);
  });

  it('lets replicas open one schema at once: all succeed, the migrations run once', async () => {
    const replicas = await Promise.all([1, 2, 3].map(() => open<Accounts>('orders', accountMigrations)));
    expect(accountRuns).toBe(1);
    const applied = await admin.query(`select name from ${pg.escapeIdentifier(`${prefix}orders`)}.kysely_migration`);
    expect(applied.rows).toEqual([{ name: '0001_accounts' }]);
    await replicas[0]?.db.insertInto('accounts').values({ id: 'x', balance_cents: 1 }).execute();
    for (const r of replicas) expect(await r.db.selectFrom('accounts').select('id').execute()).toEqual([{ id: 'x' }]);

    // Opening again later finds the schema migrated and runs nothing.
    await open<Accounts>('orders', accountMigrations);
    expect(accountRuns).toBe(1);
  });

  it('locks migrations per schema: another service migrates while one is held, a replica waits', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let slowRuns = 0;
    const slow: Record<string, Migration> = {
      '0001_slow': {
        async up(db: Kysely<unknown>) {
          slowRuns += 1;
          await db.schema.createTable('slow').addColumn('id', 'text').execute();
          await gate;
        },
      },
    };
    const held = open('orders', slow);
    const replica = open('orders', slow);
    try {
      await expect.poll(() => slowRuns).toBe(1);
      // users migrates to the end while orders' migration is still running.
      const users = await Promise.race([
        open<Accounts>('users', accountMigrations),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('users waited for orders’ migration')), 5000)),
      ]);
      expect(await users.db.selectFrom('accounts').selectAll().execute()).toEqual([]);
      let replicaOpened = false;
      void replica.then(() => {
        replicaOpened = true;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(replicaOpened).toBe(false);
    } finally {
      release();
      await Promise.allSettled([held, replica]);
    }
    await Promise.all([held, replica]);
    expect(slowRuns).toBe(1);
  });

  it('returns bigint columns and counts as numbers', async () => {
    const store = await open<Accounts>('users', accountMigrations);
    await store.db.insertInto('accounts').values({ id: 'a', balance_cents: 100_000_000_000_01 }).execute();
    expect(await store.db.selectFrom('accounts').selectAll().execute()).toEqual([{ id: 'a', balance_cents: 100_000_000_000_01 }]);
    const counted = await store.db.selectFrom('accounts').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    expect(counted).toEqual({ n: 1 });
    // The parser belongs to the store's pool, not to pg globally.
    const global = await admin.query<{ n: unknown }>('select 1::bigint as n');
    expect(global.rows[0]?.n).toBe('1');
  });

  it('runs concurrent transactions, and a unique violation is recognised', async () => {
    const store = await open<Accounts>('users', accountMigrations);
    await store.db.insertInto('accounts').values({ id: 'n', balance_cents: 0 }).execute();
    const increment = () =>
      store.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('accounts').select('balance_cents').where('id', '=', 'n').forUpdate().executeTakeFirstOrThrow();
        await new Promise((r) => setTimeout(r, 20));
        await trx.updateTable('accounts').set({ balance_cents: row.balance_cents + 1 }).where('id', '=', 'n').execute();
      });
    await Promise.all([increment(), increment(), increment()]);
    expect(await store.db.selectFrom('accounts').select('balance_cents').executeTakeFirst()).toEqual({ balance_cents: 3 });
    const clash = await store.db.insertInto('accounts').values({ id: 'n', balance_cents: 0 }).execute().catch((e: unknown) => e);
    expect(isUniqueViolation(clash)).toBe(true);
  });

  it('closes its pool: every connection is gone, and close is idempotent', async () => {
    const store = await open<Accounts>('users', accountMigrations);
    await Promise.all(
      [1, 2, 3].map(() => store.db.transaction().execute((trx) => sql`select pg_sleep(0.05)`.execute(trx))),
    );
    expect(await connectionsOf('users')).toBeGreaterThanOrEqual(3);
    await store.close();
    await store.close();
    await expect.poll(() => connectionsOf('users'), { timeout: 2000 }).toBe(0);
    await expect(store.db.selectFrom('accounts').selectAll().execute()).rejects.toThrow();
  });

  it('keeps the URL’s own options beside the search_path', async () => {
    const url = new URL(PG_URL);
    url.searchParams.set('options', '-c statement_timeout=1234');
    const store = await open<Accounts>('users', accountMigrations, url.toString());
    const shown = await sql<{ t: string; p: string }>`select current_setting('statement_timeout') as t, current_setting('search_path') as p`.execute(
      store.db,
    );
    expect(shown.rows).toEqual([{ t: '1234ms', p: `${prefix}users` }]);
  });

  it('rolls every pending migration back when one fails, and names it', async () => {
    const broken: Migration = {
      async up(db: Kysely<unknown>) {
        await sql`insert into no_such_table values (1)`.execute(db);
      },
    };
    await expect(open('users', { ...accountMigrations, '0002_broken': broken })).rejects.toThrow(
      new RegExp(`migration 0002_broken failed on schema ${prefix}users: .*no_such_table`),
    );
    const left = await admin.query('select 1 from information_schema.tables where table_schema = $1 and table_name = $2', [
      `${prefix}users`,
      'accounts',
    ]);
    expect(left.rows).toEqual([]);
    await expect.poll(() => connectionsOf('users'), { timeout: 2000 }).toBe(0);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    for (const schema of ['Users', 'users-x', '1users', 'a'.repeat(64), 'x"; drop schema public; --', '']) {
      await expect(openPostgresStore({ url: PG_URL, schema, migrations: {} })).rejects.toThrow(/schema name must be/);
    }
  });

  it('never echoes the URL, which may hold a password', async () => {
    const reasons = await Promise.all(
      [
        'postgres://me:hunter2@127.0.0.1:1/db', // nothing listens on port 1
        'mysql://me:hunter2@127.0.0.1/db',
        'postgres://me:hunter2@127.0.0.1:port/db',
      ].map((url) =>
        openPostgresStore({ url, schema: `${prefix}users`, migrations: {} }).then(
          () => 'opened',
          (e: Error) => e.message,
        ),
      ),
    );
    expect(reasons[0]).toMatch(new RegExp(`^cannot open PostgreSQL schema ${prefix}users: .*ECONNREFUSED`));
    expect(reasons[1]).toMatch(/must start with postgres:\/\//);
    expect(reasons[2]).toMatch(/not a URL/);
    for (const r of reasons) expect(r).not.toContain('hunter2');
  });
});

describe('openStore', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('opens SQLite at <dataDir>/<service>.sqlite without a database URL', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-open-store-'));
    dirs.push(dataDir);
    const store = await openStore<Accounts>({ service: 'users', dataDir, migrations: accountMigrations });
    try {
      expect(store.dialect).toBe('sqlite');
      expect(existsSync(storeFile(dataDir, 'users'))).toBe(true);
    } finally {
      await store.close();
    }
  });

  describe.runIf(postgresUp)('with a database URL', () => {
    const prefix = `${runTag}_open_`;
    afterAll(async () => {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`drop schema if exists ${pg.escapeIdentifier(`${prefix}users`)} cascade`);
      await admin.end();
    });

    it('opens PostgreSQL schema <prefix><service>, and no SQLite file', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-open-store-'));
      dirs.push(dataDir);
      const store = await openStore<Accounts>({
        service: 'users',
        dataDir,
        databaseUrl: PG_URL,
        schemaPrefix: prefix,
        migrations: accountMigrations,
      });
      try {
        expect(store.dialect).toBe('postgres');
        const seen = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
        expect(seen.rows).toEqual([{ schema: `${prefix}users` }]);
        expect(existsSync(storeFile(dataDir, 'users'))).toBe(false);
      } finally {
        await store.close();
      }
    });
  });
});
