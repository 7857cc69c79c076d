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

/**
 * A store over an open kysely instance once `prepare` (schema creation, migrations) succeeded;
 * when it fails the connection is destroyed and the error rethrown. `close()` may be called twice.
 */
export async function storeOver<DB>(
  db: Kysely<DB>,
  dialect: Store<DB>['dialect'],
  prepare: () => Promise<void>,
): Promise<Store<DB>> {
  try {
    await prepare();
  } catch (err) {
    await db.destroy();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    db,
    dialect,
    close() {
      closing ??= db.destroy();
      return closing;
    },
  };
}
