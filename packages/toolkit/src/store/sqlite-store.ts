import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  type DatabaseConnection,
  Kysely,
  type Migration,
  Migrator,
  type SqliteDialectConfig,
  SqliteDialect,
  SqliteDriver,
  CompiledQuery,
} from 'kysely';
import type { Store } from './store.js';

export interface SqliteStoreOptions {
  /** A file path (its folder is created), or `:memory:`. */
  file: string;
  /** Migrations keyed by names that sort in the order to run them, e.g. `0001_users`. */
  migrations: Record<string, Migration>;
  logger?: { info(obj: object, msg?: string): void };
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
  try {
    await migrate(db, options.migrations, file, options.logger);
  } catch (err) {
    await db.destroy();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    db,
    dialect: 'sqlite',
    close() {
      // Closing the last connection checkpoints the WAL into the main file.
      closing ??= db.destroy();
      return closing;
    },
  };
}

async function migrate<DB>(
  db: Kysely<DB>,
  migrations: Record<string, Migration>,
  file: string,
  logger: SqliteStoreOptions['logger'],
): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const r of results) {
    if (r.status === 'Success') logger?.info({ migration: r.migrationName, file }, 'migration applied');
  }
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    const what = failed ? `migration ${failed}` : 'migrations';
    throw new Error(`${what} failed on ${file}: ${reason}`, { cause: error });
  }
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
