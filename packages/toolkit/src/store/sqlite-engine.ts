import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  type SqliteDialectConfig,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';
import { runMigrations } from './migrate.js';
import type { SqliteStoreOptions } from './sqlite-store.js';
import { type Store, storeOver } from './store.js';

/** `openSqliteStore`'s work, in a module of its own so that better-sqlite3 and kysely load only when a store opens. */
export async function openSqliteEngine<DB>(options: SqliteStoreOptions): Promise<Store<DB>> {
  const { file } = options;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
  } catch (err) {
    sqlite.close();
    throw err;
  }

  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  // Closing the last connection (close()) checkpoints the WAL into the main file.
  return storeOver(db, 'sqlite', () => runMigrations(db, { migrations: options.migrations, where: file, logger: options.logger }));
}

/** kysely's SQLite driver, with `BEGIN IMMEDIATE` for transactions (see openSqliteStore). */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.config);
  }
}
