import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PG_URL, pgUp } from '../../../../test/support/backends.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** One empty database for one test: open as many stores (replicas, restarts) on it as needed. */
export interface TestDatabase {
  /** A new store (its own connection or pool) on this database. */
  open(): Promise<Store<any>>;
  /** Closes every store opened here and deletes the database (the folder, or the schema). */
  drop(): Promise<void>;
}

export interface TestEngine {
  name: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
}

const sqlite: TestEngine = {
  name: 'sqlite',
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'meshkit-idempotency-'));
    const stores: Store<any>[] = [];
    return {
      async open() {
        const store = await openSqliteStore<any>({ file: join(dir, 'service.sqlite'), migrations: {} });
        stores.push(store);
        return store;
      },
      async drop() {
        await Promise.all(stores.map((s) => s.close()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: TestEngine = {
  name: 'postgres',
  async create() {
    // A schema of its own per test, so runs (and parallel files) never see each other's rows.
    const schema = `meshkit_idem_${process.pid}_${randomBytes(4).toString('hex')}`;
    const stores: Store<any>[] = [];
    return {
      async open() {
        const store = await openPostgresStore<any>({ url: PG_URL, schema, migrations: {} });
        stores.push(store);
        return store;
      },
      async drop() {
        await Promise.all(stores.map((s) => s.close()));
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(`drop schema if exists ${schema} cascade`);
        } finally {
          await client.end();
        }
      },
    };
  },
};

/** SQLite always; PostgreSQL when it answers (under CI it must). */
export async function testEngines(): Promise<TestEngine[]> {
  return (await pgUp()) ? [sqlite, postgres] : [sqlite];
}
