/** Kysely table types of the users database (one database per service). */
export interface UsersTable {
  id: string;
  name: string;
  /** As the client sent it. */
  email: string;
  /** Lower-cased email under a UNIQUE index: uniqueness is the database's job, not a prior read's. */
  email_key: string;
  /** Epoch seconds, fractional. */
  created_at: number;
  updated_at: number;
}

export interface UsersDatabase {
  users: UsersTable;
}
