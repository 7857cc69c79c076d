import { defineService, openSqliteStore, type ServiceHandle, type ServiceOptions, storeFile } from '@meshkit/toolkit';
import { usersService } from './service.js';
import { usersMigrations } from './store/migrations.js';
import type { UsersDatabase } from './store/tables.js';

/** Wiring only: the users database (migrated), the definition, the service base. */
export async function createUsersApp(options: { dataDir: string; service: ServiceOptions }): Promise<ServiceHandle> {
  const store = await openSqliteStore<UsersDatabase>({
    file: storeFile(options.dataDir, 'users'),
    migrations: usersMigrations,
  });
  try {
    return await defineService(usersService({ store, clock: options.service.clock }), options.service);
  } catch (e) {
    await store.close();
    throw e;
  }
}
