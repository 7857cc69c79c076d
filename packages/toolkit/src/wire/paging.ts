import { Type } from 'typebox';
import { MeshError } from '../errors.js';
import { isUuid } from './ids.js';

/** `?limit=&after=` as every list endpoint takes it (DESIGN §4). */
export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
    after: Type.Optional(Type.String({ maxLength: 36 })),
  },
  { additionalProperties: false },
);

export interface Page {
  limit: number;
  after?: string;
}

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** Parses the raw query strings; a bad value is a 400. */
export function parsePage(query: { limit?: string; after?: string }): Page {
  const limit = query.limit === undefined ? DEFAULT_PAGE_LIMIT : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new MeshError('VALIDATION_FAILED', `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  if (query.after !== undefined && !isUuid(query.after)) {
    throw new MeshError('VALIDATION_FAILED', 'after must be an id from a previous page');
  }
  return query.after === undefined ? { limit } : { limit, after: query.after };
}

/**
 * Given rows fetched with `limit + 1`, returns the page and the `Link` header value for the next
 * page (undefined when none remain). `path` is the request path without its query.
 */
export function pageOf<T extends { id: string }>(
  rows: T[],
  page: Page,
  path: string,
): { items: T[]; link?: string } {
  if (rows.length <= page.limit) return { items: rows };
  const items = rows.slice(0, page.limit);
  const last = items[items.length - 1];
  if (!last) return { items };
  return { items, link: `<${path}?limit=${page.limit}&after=${last.id}>; rel="next"` };
}

/**
 * Answers a list endpoint: sets `Link: <…>; rel="next"` on the reply when more rows remain and
 * returns this page's rows (`rows` fetched with `limit + 1`; `path` without its query).
 */
export function pageReply<T extends { id: string }>(
  reply: { header(name: string, value: string): unknown },
  rows: T[],
  page: Page,
  path: string,
): T[] {
  const { items, link } = pageOf(rows, page, path);
  if (link !== undefined) reply.header('link', link);
  return items;
}
