import type { Kysely, Migration } from 'kysely';

/** Run in name order by the store at start; never edit one that has shipped, add the next. */
export const usersMigrations: Record<string, Migration> = {
  '0001_create_users': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'double precision', (c) => c.notNull())
        .addColumn('updated_at', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_email_key_unique').on('users').column('email_key').unique().execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('users').execute();
    },
  },
};
