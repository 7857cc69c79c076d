/**
 * True when a database error is a UNIQUE (or primary key) violation, from SQLite (better-sqlite3)
 * or PostgreSQL (pg): the signal that another writer got there first.
 */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
