import type { Kysely } from 'kysely';

/**
 * A service's own database behind one query layer: a SQLite file (`openSqliteStore`) or a schema
 * of a PostgreSQL database (`openPostgresStore`); `openStore` picks by configuration. Services
 * only ever see `db`, and branch on `dialect` inside a repository where one SQL cannot serve both.
 */
export interface Store<DB> {
  db: Kysely<DB>;
  dialect: 'sqlite' | 'postgres';
  /** Closes the database cleanly; in-flight queries finish first. */
  close(): Promise<void>;
}
