import type { Store } from '@meshkit/toolkit';
import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { describe, expect, it } from 'vitest';
import { pgUp } from '../../../../test/support/backends.js';
import { useTestStores } from '../../../../test/support/service-harness.js';
import { productsMigrations } from './migrations.js';
import { ReservationRepository } from './reservation-repository.js';
import type { ProductsDatabase } from './tables.js';

const PRODUCT = '0190a000-0000-7000-8000-000000000001';
const ORDER = '0190a000-0000-7000-8000-0000000000aa';
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * After each statement the repository runs, and before it may run the next, another connection
 * tries to lock the product's row at once (FOR UPDATE NOWAIT). A repository that held the lock
 * across that gap, that is while waiting on its own process, would make every other instance's
 * orders of the product wait on a process that may be paused, starved or dying.
 */
class RowLockProbe implements KyselyPlugin {
  /** How many times the row was found locked between two statements. */
  lockedBetweenStatements = 0;
  statements = 0;

  constructor(private readonly other: Kysely<ProductsDatabase>) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.statements += 1;
    try {
      await this.other
        .transaction()
        .execute((trx) => trx.selectFrom('products').select('id').where('id', '=', PRODUCT).forUpdate().noWait().execute());
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      this.lockedBetweenStatements += 1;
    }
    return args.result;
  }
}

describe.runIf(await pgUp())('ReservationRepository on PostgreSQL: the product row lock', () => {
  const stores = useTestStores({ name: 'reservation-lock', engine: 'postgres' });

  async function setUp(dialect: 'postgres' | 'sqlite') {
    const store: Store<ProductsDatabase> = await stores.openStore('products', productsMigrations);
    const other: Store<ProductsDatabase> = await stores.openStore('products', productsMigrations);
    await store.db
      .insertInto('products')
      .values({ id: PRODUCT, name: 'Laptop', description: '', price_cents: 99_999, stock: 10, created_at: 1, updated_at: 1 })
      .execute();
    const probe = new RowLockProbe(other.db);
    const stockOf = async () =>
      Number((await store.db.selectFrom('products').select('stock').where('id', '=', PRODUCT).executeTakeFirstOrThrow()).stock);
    // `dialect` picks the code path: 'sqlite' is the plain transaction, run here on PostgreSQL to show the probe bites.
    return { repository: new ReservationRepository(store.db.withPlugin(probe), dialect), probe, stockOf };
  }

  it('reserving (and a retried reservation) takes the stock without holding the lock between statements', async () => {
    const { repository, probe, stockOf } = await setUp('postgres');
    const first = await repository.reserve({ orderId: ORDER, productId: PRODUCT, quantity: 3 }, 2);
    const again = await repository.reserve({ orderId: ORDER, productId: PRODUCT, quantity: 3 }, 3);
    expect(first).toEqual({
      reservation: { orderId: ORDER, productId: PRODUCT, quantity: 3, unitPriceCents: 99_999, status: 'reserved' },
      created: true,
    });
    expect(again.created).toBe(false);
    expect(await stockOf()).toBe(7);
    expect(probe.statements).toBeGreaterThan(3);
    expect(probe.lockedBetweenStatements).toBe(0);
  });

  it('releasing (and releasing again, and a release before any reservation) never holds it between statements', async () => {
    const { repository, probe, stockOf } = await setUp('postgres');
    await repository.reserve({ orderId: ORDER, productId: PRODUCT, quantity: 4 }, 2);
    expect((await repository.release(ORDER, PRODUCT, 3)).action).toBe('release');
    expect((await repository.release(ORDER, PRODUCT, 4)).action).toBe('already_released');
    expect((await repository.release('0190a000-0000-7000-8000-0000000000bb', PRODUCT, 5)).action).toBe('never_held');
    expect(await stockOf()).toBe(10);
    expect(probe.lockedBetweenStatements).toBe(0);
  });

  it('the probe bites: a transaction that takes the stock first holds the lock across its later statements', async () => {
    const { repository, probe, stockOf } = await setUp('sqlite');
    await repository.reserve({ orderId: ORDER, productId: PRODUCT, quantity: 3 }, 2);
    expect(await stockOf()).toBe(7);
    expect(probe.lockedBetweenStatements).toBeGreaterThan(0);
  });
});
