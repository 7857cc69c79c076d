import type { Migration } from 'kysely';
import type { StoreLogger } from './migrate.js';
import type { Store } from './store.js';

export interface SqliteStoreOptions {
  /** A file path (its folder is created), or `:memory:`. */
  file: string;
  /** Migrations keyed by names that sort in the order to run them, e.g. `0001_users`. */
  migrations: Record<string, Migration>;
  logger?: StoreLogger;
}

/** Where a service keeps its SQLite file: one file per service, under DATA_DIR. */
export function storeFile(dataDir: string, service: string): string {
  return `${dataDir}${dataDir.endsWith('/') ? '' : '/'}${service}.sqlite`;
}

/**
 * Opens (creating if needed) a service's SQLite database and brings its schema up to date.
 * WAL lets readers run beside the writer; `busy_timeout` makes a second process wait for the
 * write lock instead of failing; transactions begin IMMEDIATE so a read-then-write transaction
 * takes the write lock up front and cannot fail half-way with SQLITE_BUSY.
 * One process should open a file once: its transactions then queue on that one connection.
 *
 * better-sqlite3 and kysely are loaded here, on first use: a process without a store (the
 * gateway) never loads them.
 */
export async function openSqliteStore<DB>(options: SqliteStoreOptions): Promise<Store<DB>> {
  const { openSqliteEngine } = await import('./sqlite-engine.js');
  return openSqliteEngine<DB>(options);
}
