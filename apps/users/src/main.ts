import { defineService, openStore, type ServiceHandle, type ServiceOptions } from '@meshkit/toolkit';
import { usersService } from './service.js';
import { usersMigrations } from './store/migrations.js';
import type { UsersDatabase } from './store/tables.js';

export interface UsersAppOptions {
  /** Folder of the SQLite file (`users.sqlite` in it); unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL: the users tables live in schema `<schemaPrefix>users` there. */
  databaseUrl?: string | undefined;
  schemaPrefix?: string | undefined;
  service: ServiceOptions;
}

/** Wiring only: the users database (migrated), the definition, the service base. */
export async function createUsersApp(options: UsersAppOptions): Promise<ServiceHandle> {
  const store = await openStore<UsersDatabase>({
    service: 'users',
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    schemaPrefix: options.schemaPrefix,
    migrations: usersMigrations,
    ...(options.service.logger ? { logger: options.service.logger } : {}),
  });
  try {
    return await defineService(usersService({ store, clock: options.service.clock }), options.service);
  } catch (e) {
    await store.close();
    throw e;
  }
}
