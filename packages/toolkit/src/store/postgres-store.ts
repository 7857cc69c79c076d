import type { Migration } from 'kysely';
import type { StoreLogger } from './migrate.js';
import type { Store } from './store.js';

export interface PostgresStoreOptions {
  /** `postgres://` or `postgresql://` URL. Never logged or echoed: it may hold a password. */
  url: string;
  /** The service's own schema: created if missing, and the only one on every connection's search_path. */
  schema: string;
  /** Migrations keyed by names that sort in the order to run them, e.g. `0001_users`. */
  migrations: Record<string, Migration>;
  logger?: StoreLogger;
  /** Most connections the pool holds. Default 10. */
  poolSize?: number;
}

/** An unquoted PostgreSQL identifier: lower case, at most 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function isSchemaName(name: string): boolean {
  return SCHEMA_NAME.test(name);
}

/**
 * Opens a service's store in its own schema of a PostgreSQL database and brings the schema up to
 * date. Every pooled connection starts with `search_path=<schema>`, so the service's unqualified
 * SQL reads and writes its own tables only, and a schema per service lets several services (or
 * several test runs) share one database. Replicas may open the same schema at once: creating the
 * schema tolerates the race, and the Migrator's advisory lock migrates once.
 *
 * pg and kysely are loaded here, on first use: a process without a store (the gateway) never
 * loads them.
 */
export async function openPostgresStore<DB>(options: PostgresStoreOptions): Promise<Store<DB>> {
  const { schema } = options;
  if (!isSchemaName(schema)) {
    throw new Error(`schema name must be a lower-case identifier of 1-63 characters ([a-z_][a-z0-9_]*), got "${schema}"`);
  }
  const { openPostgresEngine } = await import('./postgres-engine.js');
  return openPostgresEngine<DB>(options);
}
