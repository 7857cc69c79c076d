import type { ServiceCaller } from '@meshkit/toolkit';
import { callOptionsOf, type RequestContext } from '../request-context.js';
import { unexpectedAnswer } from './unexpected-answer.js';

export const USERS_SERVICE = 'user-service';

/** The orders service's view of users: only whether one exists. */
export interface UserDirectory {
  /** True on 200, false on 404; any other outcome rejects with a MeshError. */
  exists(userId: string, ctx?: RequestContext): Promise<boolean>;
  /** Throws the 503 a lookup would fail with now (no user instance can take one); sends nothing. */
  ensureAvailable(): void;
}

export function userDirectory(caller: ServiceCaller): UserDirectory {
  return {
    async exists(userId, ctx = {}) {
      const res = await caller.call(USERS_SERVICE, {
        method: 'GET',
        path: `/users/${encodeURIComponent(userId)}`,
        ...callOptionsOf(ctx),
      });
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw unexpectedAnswer(USERS_SERVICE, `GET /users/${userId}`, res);
    },

    ensureAvailable() {
      caller.ensureAvailable?.(USERS_SERVICE);
    },
  };
}

