import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRoutes, defaultRoutes, matchRoute, type Route, routeTemplate } from './route-table.js';

describe('matchRoute over the default table', () => {
  const service = (path: string) => matchRoute(defaultRoutes, path)?.service;

  it('sends each collection, its query and its subtree to the owning service', () => {
    expect(service('/users')).toBe('user-service');
    expect(service('/users?limit=5')).toBe('user-service');
    expect(service('/users/')).toBe('user-service');
    expect(service('/users/abc?x=1&y=2')).toBe('user-service');
    expect(service('/products/p1/stock')).toBe('product-service');
    expect(service('/orders/user/u1')).toBe('order-service');
  });

  it('owns nothing outside the table, nor look-alike siblings', () => {
    const outside = ['/', '', '/usersX', '/users-admin/1', '/user', '/internal/products/1', '/nothing', '/Users'];
    outside.push('//users', '/orders-x?y', '/productsusers');
    for (const path of outside) {
      expect(service(path), path).toBeUndefined();
    }
  });

  it('matches a path exactly when it is the prefix or continues it with / or ?', () => {
    fc.assert(
      fc.property(fc.constantFrom(...defaultRoutes), fc.string(), (route, tail) => {
        const path = route.prefix + tail;
        const expected = tail === '' || tail.startsWith('/') || tail.startsWith('?') ? route.service : undefined;
        expect(matchRoute(defaultRoutes, path)?.service).toBe(expected);
      }),
    );
  });
});

describe('compileRoutes', () => {
  it('prefers the longest prefix', () => {
    const routes: Route[] = [
      { prefix: '/api', service: 'api' },
      { prefix: '/api/admin', service: 'admin' },
    ];
    const match = compileRoutes(routes);
    expect(match('/api/admin/x')?.service).toBe('admin');
    expect(match('/api/administrator')?.service).toBe('api');
    expect(match('/api')?.service).toBe('api');
  });

  it('refuses prefixes it could not honour', () => {
    expect(() => compileRoutes([{ prefix: 'users', service: 's' }])).toThrow(/prefix/);
    expect(() => compileRoutes([{ prefix: '/users/', service: 's' }])).toThrow(/prefix/);
    expect(() => compileRoutes([{ prefix: '/users', service: '' }])).toThrow(/no service/);
    expect(() =>
      compileRoutes([
        { prefix: '/a', service: 's' },
        { prefix: '/a', service: 't' },
      ]),
    ).toThrow(/twice/);
  });
});

describe('routeTemplate', () => {
  it("names Fastify's template for a matched path: the prefix for it and its query, prefix/* below it", () => {
    const template = (path: string) => routeTemplate(matchRoute(defaultRoutes, path) as Route, path);
    expect(template('/users')).toBe('/users');
    expect(template('/users?limit=5')).toBe('/users');
    expect(template('/users/')).toBe('/users/*');
    expect(template('/users/abc?x=1')).toBe('/users/*');
    expect(template('/products/p1/stock')).toBe('/products/*');
    // Made once per route, asked again and again.
    expect(template('/orders/1')).toBe(template('/orders/2'));
  });
});
