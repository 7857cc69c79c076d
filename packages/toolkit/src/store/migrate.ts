import type { Kysely, Migration } from 'kysely';

/** What a store logs through: pino and Fastify's logger fit. */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
}

export interface MigrateOptions {
  migrations: Record<string, Migration>;
  /** Names the database in messages (a file, or `schema <name>`); never a URL, which may hold a password. */
  where: string;
  logger?: StoreLogger | undefined;
  /** Where kysely keeps its own migration tables (PostgreSQL: the service's schema). */
  migrationTableSchema?: string | undefined;
}

/**
 * Brings a store's schema up to date with kysely's Migrator, in name order, and rejects naming the
 * migration that failed. On PostgreSQL the Migrator holds an advisory lock and runs every pending
 * migration in one transaction: replicas starting together migrate once, and a failure applies
 * none. On SQLite (no transactional DDL) the migrations before the failing one stay applied.
 */
export async function runMigrations<DB>(db: Kysely<DB>, options: MigrateOptions): Promise<void> {
  const { migrations, where, logger, migrationTableSchema } = options;
  const { Migrator } = await import('kysely');
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  // With transactional DDL (PostgreSQL) a failure rolled back the ones that had succeeded.
  const kept = error === undefined || !db.getExecutor().adapter.supportsTransactionalDdl;
  for (const r of kept ? results : []) {
    if (r.status === 'Success') logger?.info({ migration: r.migrationName, store: where }, 'migration applied');
  }
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    const what = failed ? `migration ${failed}` : 'migrations';
    throw new Error(`${what} failed on ${where}: ${reason}`, { cause: error });
  }
}
