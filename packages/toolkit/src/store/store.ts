import type { Kysely } from 'kysely';

/**
 * A service's own database behind one query layer. SQLite today (`openSqliteStore`); PostgreSQL
 * plugs in behind the same interface, so services only ever see `db`.
 */
export interface Store<DB> {
  db: Kysely<DB>;
  dialect: 'sqlite' | 'postgres';
  /** Closes the database cleanly; in-flight queries finish first. */
  close(): Promise<void>;
}
