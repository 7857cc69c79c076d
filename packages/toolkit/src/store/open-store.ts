import type { Migration } from 'kysely';
import type { StoreLogger } from './migrate.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore, storeFile } from './sqlite-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** The service's store name, an identifier (`users`): its SQLite file, or its PostgreSQL schema after the prefix. */
  service: string;
  /** Folder of the SQLite files (DATA_DIR); unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL (DATABASE_URL): the store is schema `<schemaPrefix><service>` there. Absent: SQLite. */
  databaseUrl?: string | undefined;
  /** DATABASE_SCHEMA_PREFIX: lets several shops (or test runs) share one database. */
  schemaPrefix?: string | undefined;
  migrations: Record<string, Migration>;
  logger?: StoreLogger | undefined;
}

/**
 * A service's own store, migrated: in PostgreSQL when a database URL is configured, else in the
 * SQLite file `<dataDir>/<service>.sqlite`. The one place a service's wiring chooses its engine.
 */
export function openStore<DB>(options: OpenStoreOptions): Promise<Store<DB>> {
  const { service, migrations, logger } = options;
  if (options.databaseUrl) {
    return openPostgresStore<DB>({
      url: options.databaseUrl,
      schema: `${options.schemaPrefix ?? ''}${service}`,
      migrations,
      ...(logger ? { logger } : {}),
    });
  }
  return openSqliteStore<DB>({ file: storeFile(options.dataDir, service), migrations, ...(logger ? { logger } : {}) });
}
