import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, type Migration, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, storeFile } from './sqlite-store.js';
import type { Store } from './store.js';

interface DB {
  counters: { name: string; value: number };
}

let upRuns = 0;
const migrations: Record<string, Migration> = {
  '0001_counters': {
    async up(db: Kysely<unknown>) {
      upRuns += 1;
      await db.schema
        .createTable('counters')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

const dirs: string[] = [];
const stores: Store<DB>[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmpFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'folder', 'svc.sqlite');
}

async function open(file: string, extra: Record<string, Migration> = {}): Promise<Store<DB>> {
  const store = await openSqliteStore<DB>({ file, migrations: { ...migrations, ...extra } });
  stores.push(store);
  return store;
}

describe('openSqliteStore', () => {
  it('creates the folder, runs migrations once, and keeps data across close and reopen', async () => {
    const file = tmpFile();
    upRuns = 0;
    const first = await open(file);
    expect(first.dialect).toBe('sqlite');
    await first.db.insertInto('counters').values({ name: 'a', value: 41 }).execute();
    await first.close();
    await first.close(); // idempotent
    expect(existsSync(`${file}-wal`)).toBe(false); // a clean close checkpoints the WAL away

    const second = await open(file);
    expect(upRuns).toBe(1);
    expect(await second.db.selectFrom('counters').selectAll().execute()).toEqual([{ name: 'a', value: 41 }]);
  });

  it('sets the pragmas', async () => {
    const store = await open(tmpFile());
    const pragma = async (name: string) =>
      Object.values((await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(store.db)).rows[0] ?? {})[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('busy_timeout')).toBe(5000);
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('synchronous')).toBe(1); // NORMAL
  });

  it('works in memory', async () => {
    const store = await open(':memory:');
    await store.db.insertInto('counters').values({ name: 'm', value: 1 }).execute();
    expect(await store.db.selectFrom('counters').select('value').executeTakeFirst()).toEqual({ value: 1 });
  });

  it('rejects with the name of a failing migration, and applies the ones before it', async () => {
    const file = tmpFile();
    const broken: Migration = {
      async up(db: Kysely<unknown>) {
        await sql`insert into no_such_table values (1)`.execute(db);
      },
    };
    await expect(open(file, { '0002_broken': broken })).rejects.toThrow(/migration 0002_broken failed.*no_such_table/);
    const store = await open(file);
    expect(await store.db.selectFrom('counters').selectAll().execute()).toEqual([]);
  });

  it('queues concurrent transactions on one store instead of failing', async () => {
    const store = await open(tmpFile());
    await store.db.insertInto('counters').values({ name: 'n', value: 0 }).execute();
    const increment = () =>
      store.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('counters').select('value').where('name', '=', 'n').executeTakeFirstOrThrow();
        await new Promise((r) => setTimeout(r, 20)); // interleave, were they not queued
        await trx.updateTable('counters').set({ value: row.value + 1 }).where('name', '=', 'n').execute();
      });
    await Promise.all([increment(), increment(), increment()]);
    expect(await store.db.selectFrom('counters').select('value').executeTakeFirst()).toEqual({ value: 3 });
  });

  it('waits for another process holding the write lock instead of failing with SQLITE_BUSY', async () => {
    const file = tmpFile();
    const store = await open(file);
    // Another process takes the write lock, holds it 500 ms, then commits.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import Database from 'better-sqlite3';
         const db = new Database(process.argv[1]);
         db.exec("begin immediate; insert into counters values ('other', 1)");
         console.log('locked');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
         db.exec('commit'); db.close();`,
        file,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => holder.once('exit', r));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d) => String(d).includes('locked') && resolve());
      holder.once('exit', () => reject(new Error('lock holder exited early')));
    });
    await store.db.transaction().execute(async (trx) => {
      await trx.selectFrom('counters').selectAll().execute();
      await trx.insertInto('counters').values({ name: 'mine', value: 2 }).execute();
    });
    expect(await exited).toBe(0);
    const names = (await store.db.selectFrom('counters').select('name').orderBy('name').execute()).map((r) => r.name);
    expect(names).toEqual(['mine', 'other']);
  });
});

describe('storeFile', () => {
  it('names one file per service under the data folder', () => {
    expect(storeFile('./data', 'user-service')).toBe('./data/user-service.sqlite');
    expect(storeFile('/var/lib/meshkit/', 'orders')).toBe('/var/lib/meshkit/orders.sqlite');
  });
});
