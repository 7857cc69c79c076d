import {
  type Clock,
  isUuid,
  NonBlankText,
  PageQuery,
  pageReply,
  parsePage,
  type ServiceApp,
  uuidv7,
} from '@meshkit/toolkit';
import { type Static, Type } from 'typebox';
import { UserNotFound } from './domain/errors.js';
import { createUser, EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, type User, updateUser } from './domain/user.js';
import type { UserRepository } from './store/user-repository.js';

const Name = NonBlankText(NAME_MAX_LENGTH);
const Email = Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH });

export const CreateUserBody = Type.Object({ name: Name, email: Email }, { additionalProperties: false });

/** Only these two fields may change: `id`, `created_at` or anything else is a 400, never ignored. */
export const UpdateUserBody = Type.Object(
  { name: Type.Optional(Name), email: Type.Optional(Email) },
  { additionalProperties: false, minProperties: 1 },
);

const UserParams = Type.Object({ id: Type.String() });

export const UserWire = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.String(),
  created_at: Type.Number(),
  updated_at: Type.Number(),
});
export type UserWire = Static<typeof UserWire>;

const Deleted = Type.Object({ message: Type.String() });

function toWire(user: User): UserWire {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}

/** A path id that is not a UUID names no user: 404, like any unknown id. */
function userId(id: string): string {
  if (!isUuid(id)) throw new UserNotFound(id);
  return id;
}

export interface UserRoutesDeps {
  users: UserRepository;
  clock: Clock;
}

export function userRoutes(app: ServiceApp, { users, clock }: UserRoutesDeps): void {
  const nowSeconds = () => clock.now() / 1000;

  app.post(
    '/users',
    { schema: { body: CreateUserBody, response: { 201: UserWire } } },
    async (request, reply) => {
      const user = createUser(request.body, uuidv7(), nowSeconds());
      await users.insert(user);
      return reply.code(201).send(toWire(user));
    },
  );

  app.get('/users', { schema: { querystring: PageQuery, response: { 200: Type.Array(UserWire) } } }, async (request, reply) => {
    const page = parsePage(request.query);
    return pageReply(reply, await users.listPage(page), page, '/users').map(toWire);
  });

  app.get('/users/:id', { schema: { params: UserParams, response: { 200: UserWire } } }, async (request) => {
    const id = userId(request.params.id);
    const user = await users.findById(id);
    if (!user) throw new UserNotFound(id);
    return toWire(user);
  });

  app.put(
    '/users/:id',
    { schema: { params: UserParams, body: UpdateUserBody, response: { 200: UserWire } } },
    async (request) => {
      const id = userId(request.params.id);
      const user = await users.findById(id);
      if (!user) throw new UserNotFound(id);
      const updated = updateUser(user, request.body, nowSeconds());
      if (!(await users.update(updated))) throw new UserNotFound(id);
      return toWire(updated);
    },
  );

  app.delete('/users/:id', { schema: { params: UserParams, response: { 200: Deleted } } }, async (request) => {
    const id = userId(request.params.id);
    if (!(await users.delete(id))) throw new UserNotFound(id);
    return { message: 'User deleted successfully' };
  });
}
