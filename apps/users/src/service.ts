import { type Clock, type ServiceDefinition, type Store, systemClock } from '@meshkit/toolkit';
import { sql } from 'kysely';
import { userRoutes } from './routes.js';
import type { UsersDatabase } from './store/tables.js';
import { UserRepository } from './store/user-repository.js';

/** The registry name, as in the seed. */
export const USERS_SERVICE = 'user-service';

export interface UsersServiceDeps {
  store: Store<UsersDatabase>;
  /** Source of created_at/updated_at. Default: the system clock. */
  clock?: Clock;
}

export function usersService(deps: UsersServiceDeps): ServiceDefinition {
  const { store } = deps;
  const clock = deps.clock ?? systemClock;
  const users = new UserRepository(store.db);
  return {
    name: USERS_SERVICE,
    version: '1.0.0',
    routes: (app) => userRoutes(app, { users, clock }),
    async ready() {
      await sql`select 1`.execute(store.db);
    },
    close: () => store.close(),
    // A retried POST (same Idempotency-Key) replays its first answer instead of acting twice.
    idempotency: { store },
  };
}
