/** Which service answers which public path prefix. */
export interface Route {
  /** A path prefix without a trailing slash, e.g. `/users`. */
  prefix: string;
  /** The registry name of the service behind it, e.g. `user-service`. */
  service: string;
}

/** The seed's three services, each owning its collection and everything below it. */
export const defaultRoutes: Route[] = [
  { prefix: '/users', service: 'user-service' },
  { prefix: '/products', service: 'product-service' },
  { prefix: '/orders', service: 'order-service' },
];

/** Refuses prefixes the matcher could not honour, so a bad table fails at start, not per request. */
export function validateRoutes(routes: readonly Route[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(r.prefix)) {
      throw new Error(`route prefix "${r.prefix}" must look like /name or /name/sub, without a trailing slash`);
    }
    if (r.service.length === 0) throw new Error(`route ${r.prefix} names no service`);
    if (seen.has(r.prefix)) throw new Error(`route prefix ${r.prefix} appears twice`);
    seen.add(r.prefix);
  }
}

type Matcher = (path: string) => Route | undefined;

/**
 * A prefix owns the exact path, its query (`/users?x`) and its subtree (`/users/...`), never a
 * sibling that merely starts with the same letters (`/usersX`). Longest prefix wins.
 */
export function compileRoutes(routes: readonly Route[]): Matcher {
  validateRoutes(routes);
  const ordered = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  return (path) => {
    for (const route of ordered) {
      if (!path.startsWith(route.prefix)) continue;
      const next = path.charCodeAt(route.prefix.length);
      // NaN: the path ends at the prefix; 47 '/', 63 '?'
      if (Number.isNaN(next) || next === 47 || next === 63) return route;
    }
    return undefined;
  };
}

// Each table is compiled once, the first time it is matched against.
const compiled = new WeakMap<readonly Route[], Matcher>();

/** The route owning `path` (a request path, with or without its query string), if any. */
export function matchRoute(routes: readonly Route[], path: string): Route | undefined {
  let matcher = compiled.get(routes);
  if (matcher === undefined) {
    matcher = compileRoutes(routes);
    compiled.set(routes, matcher);
  }
  return matcher(path);
}

// Made once per route: one string each time, whose hash the metrics' label lookup keeps.
const subtreeTemplates = new WeakMap<Route, string>();

/**
 * Fastify's route template for a path `route` owns: the prefix itself (the exact path, or it with
 * a query), or `<prefix>/*` for everything below it.
 */
export function routeTemplate(route: Route, path: string): string {
  const next = path.charCodeAt(route.prefix.length);
  if (Number.isNaN(next) || next === 63) return route.prefix;
  let template = subtreeTemplates.get(route);
  if (template === undefined) {
    template = `${route.prefix}/*`;
    subtreeTemplates.set(route, template);
  }
  return template;
}
