import {
  type DatabaseIntrospector,
  type DialectAdapter,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  type PostgresDialectConfig,
  sql,
} from 'kysely';
import pg from 'pg';
import { runMigrations } from './migrate.js';
import type { PostgresStoreOptions } from './postgres-store.js';
import { SchemaIntrospector } from './schema-introspector.js';
import { type Store, storeOver } from './store.js';

/** `openPostgresStore`'s work once the schema name is checked, in a module of its own so that pg and kysely load only when a store opens. */
export async function openPostgresEngine<DB>(options: PostgresStoreOptions): Promise<Store<DB>> {
  const { schema, logger } = options;
  const pool = new pg.Pool(poolConfig(options));
  // An idle connection that breaks (server restart, network) must not crash the process; the
  // pool replaces it on the next checkout.
  pool.on('error', (err) => logger?.warn?.({ err: err.message, schema }, 'idle PostgreSQL connection failed'));

  const db = new Kysely<DB>({ dialect: new OwnSchemaPostgresDialect({ pool }, schema) });
  // close() ends the pool: checked-out connections finish their query first, then every one closes.
  return storeOver(db, 'postgres', async () => {
    await createSchema(db, schema);
    await runMigrations(db, {
      migrations: options.migrations,
      where: `schema ${schema}`,
      logger,
      migrationTableSchema: schema,
    });
  });
}

function poolConfig({ url, schema, poolSize }: PostgresStoreOptions): pg.PoolConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the PostgreSQL URL is not a URL'); // the URL itself is not echoed
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the PostgreSQL URL must start with postgres:// or postgresql://, got scheme "${parsed.protocol}"`);
  }
  // pg lets the URL's own parameters override the config, so `options` is moved out of the URL
  // and merged: the search_path must hold whatever else the URL asks for.
  const urlOptions = parsed.searchParams.get('options');
  parsed.searchParams.delete('options');
  if (!parsed.searchParams.has('application_name')) parsed.searchParams.set('application_name', `meshkit-${schema}`);
  return {
    connectionString: parsed.toString(),
    options: [urlOptions, `-c search_path=${schema}`].filter((o) => o).join(' '),
    max: poolSize ?? 10,
    // pg closes a connection after 10 s idle by default, so a service that paused briefly opens
    // them all again at its next burst, just when it is busy (a new backend costs PostgreSQL
    // 10–30 ms of CPU on a small host). Kept for 5 minutes, as connection pools usually do.
    idleTimeoutMillis: POOL_IDLE_TIMEOUT_MS,
    types: { getTypeParser: typeParser },
  };
}

const POOL_IDLE_TIMEOUT_MS = 5 * 60_000;

const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);

/**
 * pg hands int8 (bigint) back as a string, for values beyond 2^53. Every bigint the services keep
 * (cents, epoch milliseconds) stays far below that, so this pool, and only this pool, parses them
 * as numbers: the repositories see the same types on PostgreSQL as on SQLite.
 */
const typeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === INT8_OID && format !== 'binary'
    ? parseInt8
    : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;

/** `create schema if not exists` can still fail when two replicas race it (23505 or 42P06): the schema is then there. */
async function createSchema<DB>(db: Kysely<DB>, schema: string): Promise<void> {
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === '23505' || code === '42P06') return;
    // pg's messages name the host and user at most, never the password.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot open PostgreSQL schema ${schema}: ${reason}`, { cause: err });
  }
}

/**
 * kysely's PostgreSQL dialect for one service's schema: its introspection (and so the Migrator's)
 * sees that schema only, and its migration lock is that schema's.
 */
class OwnSchemaPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly schema: string,
  ) {
    super(config);
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.schema);
  }

  override createAdapter(): DialectAdapter {
    return new SchemaMigrationLockAdapter(this.schema);
  }
}

/**
 * kysely takes one advisory lock for every migration in the database; this one is per schema.
 * Replicas of one service (one schema) still migrate one at a time, and so once; services in
 * other schemas share no tables with it and need not wait for each other.
 */
class SchemaMigrationLockAdapter extends PostgresAdapter {
  constructor(private readonly schema: string) {
    super();
  }

  override async acquireMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`select pg_advisory_lock(hashtextextended(${this.lockName()}, 0))`.execute(db);
  }

  override async releaseMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`select pg_advisory_unlock(hashtextextended(${this.lockName()}, 0))`.execute(db);
  }

  private lockName(): string {
    return `meshkit:migrate:${this.schema}`;
  }
}
