import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  type DatabaseConnection,
  Kysely,
  type Migration,
  type SqliteDialectConfig,
  SqliteDialect,
  SqliteDriver,
  CompiledQuery,
} from 'kysely';
import { runMigrations, type StoreLogger } from './migrate.js';
import { type Store, storeOver } from './store.js';

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
 */
export async function openSqliteStore<DB>(options: SqliteStoreOptions): Promise<Store<DB>> {
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
