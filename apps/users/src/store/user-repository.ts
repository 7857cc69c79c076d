import type { Kysely, Selectable } from 'kysely';
import { isUniqueViolation, type Page } from '@meshkit/toolkit';
import { EmailAlreadyInUse } from '../domain/errors.js';
import { emailKey, type User } from '../domain/user.js';
import type { UsersDatabase, UsersTable } from './tables.js';

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Users in the users database. Email clashes surface as EmailAlreadyInUse from the UNIQUE index. */
export class UserRepository {
  constructor(private readonly db: Kysely<UsersDatabase>) {}

  async insert(user: User): Promise<void> {
    try {
      await this.db
        .insertInto('users')
        .values({
          id: user.id,
          name: user.name,
          email: user.email,
          email_key: emailKey(user.email),
          created_at: user.createdAt,
          updated_at: user.updatedAt,
        })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new EmailAlreadyInUse(user.email);
      throw e;
    }
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  /** Keyset page in id order; fetches `limit + 1` rows so the caller can tell whether more remain. */
  async listPage(page: Page): Promise<User[]> {
    let query = this.db.selectFrom('users').selectAll();
    if (page.after !== undefined) query = query.where('id', '>', page.after);
    const rows = await query.orderBy('id').limit(page.limit + 1).execute();
    return rows.map(toUser);
  }

  /** Writes name, email and updated_at; false when the user no longer exists. */
  async update(user: User): Promise<boolean> {
    try {
      const result = await this.db
        .updateTable('users')
        .set({
          name: user.name,
          email: user.email,
          email_key: emailKey(user.email),
          updated_at: user.updatedAt,
        })
        .where('id', '=', user.id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (e) {
      if (isUniqueViolation(e)) throw new EmailAlreadyInUse(user.email);
      throw e;
    }
  }

  /** False when there was no such user. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
