import {
  type Clock,
  type ErrorCode,
  isUuid,
  MeshError,
  PageQuery,
  pageOf,
  parsePage,
  type ServiceApp,
  uuidv7,
} from '@meshkit/toolkit';
import { type Static, Type } from 'typebox';
import { UserDomainError, type UserErrorKind, UserNotFound } from './domain/errors.js';
import { createUser, EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, type User, updateUser } from './domain/user.js';
import type { UserRepository } from './store/user-repository.js';

// `\S`: at least one non-whitespace character, so "   " is refused while " Ann " is kept as sent.
const Name = Type.String({ minLength: 1, maxLength: NAME_MAX_LENGTH, pattern: '\\S' });
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

const codeOf: Record<UserErrorKind, ErrorCode> = {
  invalid: 'VALIDATION_FAILED',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
};

/** Domain errors become problem+json here, at the edge, and nowhere else. */
async function atEdge<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof UserDomainError) throw new MeshError(codeOf[e.kind], e.message, { cause: e });
    throw e;
  }
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
    (request, reply) =>
      atEdge(async () => {
        const user = createUser(request.body, uuidv7(), nowSeconds());
        await users.insert(user);
        return reply.code(201).send(toWire(user));
      }),
  );

  app.get('/users', { schema: { querystring: PageQuery, response: { 200: Type.Array(UserWire) } } }, (request, reply) =>
    atEdge(async () => {
      const page = parsePage(request.query);
      const { items, link } = pageOf(await users.listPage(page), page, '/users');
      if (link !== undefined) reply.header('link', link);
      return items.map(toWire);
    }),
  );

  app.get('/users/:id', { schema: { params: UserParams, response: { 200: UserWire } } }, (request) =>
    atEdge(async () => {
      const id = userId(request.params.id);
      const user = await users.findById(id);
      if (!user) throw new UserNotFound(id);
      return toWire(user);
    }),
  );

  app.put(
    '/users/:id',
    { schema: { params: UserParams, body: UpdateUserBody, response: { 200: UserWire } } },
    (request) =>
      atEdge(async () => {
        const id = userId(request.params.id);
        const user = await users.findById(id);
        if (!user) throw new UserNotFound(id);
        const updated = updateUser(user, request.body, nowSeconds());
        if (!(await users.update(updated))) throw new UserNotFound(id);
        return toWire(updated);
      }),
  );

  app.delete('/users/:id', { schema: { params: UserParams, response: { 200: Deleted } } }, (request) =>
    atEdge(async () => {
      const id = userId(request.params.id);
      if (!(await users.delete(id))) throw new UserNotFound(id);
      return { message: 'User deleted successfully' };
    }),
  );
}
