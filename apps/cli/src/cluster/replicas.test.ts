import { describe, expect, it } from 'vitest';
import { checkClusterBackends, ClusterUsageError, parseReplicas } from './replicas.js';

describe('parseReplicas', () => {
  it('reads any subset and runs the others once', () => {
    expect(parseReplicas('users=2,products=3,orders=2')).toEqual({ users: 2, products: 3, orders: 2 });
    expect(parseReplicas('products=16')).toEqual({ users: 1, products: 16, orders: 1 });
    expect(parseReplicas(' orders = 4 , users=1 ')).toEqual({ users: 1, products: 1, orders: 4 });
    expect(parseReplicas(undefined)).toEqual({ users: 1, products: 1, orders: 1 });
    expect(parseReplicas('')).toEqual({ users: 1, products: 1, orders: 1 });
  });

  it.each([
    ['bogus=2', /"bogus" is not a service; use users, products, orders/],
    ['gateway=2', /the gateway runs once/],
    ['products=0', /products=0 must be a whole number of replicas from 1 to 16/],
    ['products=17', /from 1 to 16/],
    ['products=-1', /from 1 to 16/],
    ['products=1.5', /from 1 to 16/],
    ['products=', /from 1 to 16/],
    ['products=two', /from 1 to 16/],
    ['users2', /"users2" is not service=count/],
    ['users=2,', /"" is not service=count/],
    ['users=2,users=3', /users is given twice/],
  ])('refuses %j with one line', (list, message) => {
    let error: unknown;
    try {
      parseReplicas(list);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ClusterUsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('checkClusterBackends', () => {
  const one = { users: 1, products: 1, orders: 1 };

  it('needs REDIS_URL, and DATABASE_URL only for a service with more than one replica', () => {
    expect(() => checkClusterBackends(one, { REDIS_URL: 'redis://127.0.0.1:6379' })).not.toThrow();
    expect(() => checkClusterBackends(one, {})).toThrow(
      'cluster needs REDIS_URL: its processes find each other through Redis',
    );
    expect(() => checkClusterBackends(one, { REDIS_URL: '  ' })).toThrow(/needs REDIS_URL/);
    expect(() => checkClusterBackends({ ...one, products: 3 }, { REDIS_URL: 'redis://x' })).toThrow(
      'cluster needs DATABASE_URL: products has 3 replicas, and replicas of a service must share one database',
    );
    expect(() =>
      checkClusterBackends({ ...one, products: 3 }, { REDIS_URL: 'redis://x', DATABASE_URL: 'postgres://db/x' }),
    ).not.toThrow();
  });

  it('names everything missing on one line', () => {
    expect(() => checkClusterBackends({ users: 2, products: 1, orders: 3 }, {})).toThrow(
      'cluster needs REDIS_URL and DATABASE_URL: its processes find each other through Redis; ' +
        'users has 2 replicas and orders has 3 replicas, and replicas of a service must share one database',
    );
  });
});
