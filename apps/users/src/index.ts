export { createUsersApp } from './main.js';
export { USERS_SERVICE, type UsersServiceDeps, usersService } from './service.js';
export { usersMigrations } from './store/migrations.js';
export type { UsersDatabase, UsersTable } from './store/tables.js';
export type { User } from './domain/user.js';
export { CreateUserBody, UpdateUserBody, UserWire } from './routes.js';
