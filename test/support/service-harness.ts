import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, openStore, type ServiceHandle, type ServiceOptions, type Store } from '@meshkit/toolkit';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Migration } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { PG_URL, pgUp } from './backends.js';

/** The database engines a service's stores run on. */
export type Engine = 'sqlite' | 'postgres';

/**
 * The engines to run each service suite on, as `describe.each(engines)`: SQLite always, PostgreSQL
 * when it answers (under CI a missing PostgreSQL fails instead, as `pgUp` does).
 */
export const engines: Engine[] = (await pgUp()) ? ['sqlite', 'postgres'] : ['sqlite'];

/** Where a test's stores live: what `create<Svc>App` and `openStore` take. */
export interface StoreLocation {
  dataDir: string;
  /** PostgreSQL only. */
  databaseUrl?: string;
  /** PostgreSQL only: unique to the test, so its schemas are its own. */
  schemaPrefix?: string;
}

export type Json = Record<string, unknown>;

export interface Sent {
  status: number;
  headers: LightMyRequestResponse['headers'];
  /** The parsed JSON body; undefined when the body is empty. */
  body: Json | undefined;
  raw: LightMyRequestResponse;
}

export interface HarnessOptions {
  /** Names the temporary data folder (`meshkit-<name>-…`). */
  name: string;
  /** Default `sqlite`. */
  engine?: Engine;
  /** Opens the service on this test's store location; called before each test and by `restart()`. */
  open: (options: StoreLocation & { service: ServiceOptions }) => Promise<ServiceHandle>;
  /** Gives the service a ManualClock starting here (epoch ms), fresh each test; left out, the system clock. */
  startAt?: number;
}

/** A fresh, empty place for a test's stores on one engine; `openStore` opens one there. */
export interface TestStores {
  readonly engine: Engine;
  readonly location: StoreLocation;
  /** Another client on this test's store `service` (migrated), closed after the test. */
  openStore<DB>(service: string, migrations: Record<string, Migration>): Promise<Store<DB>>;
}

/** One service over its own store, fresh per test, reached by inject (no port is bound). */
export interface ServiceHarness extends TestStores {
  /** This test's service; a new one after `restart()`. */
  readonly handle: ServiceHandle;
  readonly dataDir: string;
  /** The service's clock; only with `startAt`. */
  readonly clock: ManualClock;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** A request with an optional JSON body, the answer's body parsed. */
  send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown): Promise<Sent>;
  /** POSTs `body` to `path`, expects 201 and returns what was created. */
  create(path: string, body: unknown): Promise<Json>;
  /** Every row of a paged list, following the `Link: <…>; rel="next"` headers from `firstUrl`. */
  allPages(firstUrl: string): Promise<Json[]>;
  /** Stops the service and opens it again on the same folder (and clock). */
  restart(): Promise<void>;
}

/**
 * Registers the beforeEach/afterEach that give each test a fresh store location and clean it up:
 * a temporary folder, and on PostgreSQL a schema prefix of its own whose schemas are dropped after.
 */
export function useTestStores(options: { name: string; engine?: Engine }): TestStores {
  const place = new StorePlace(options.name, options.engine ?? 'sqlite');
  beforeEach(() => place.setUp());
  afterEach(() => place.tearDown());
  afterAll(() => place.dispose());
  return place;
}

/** Registers the beforeEach/afterEach that open and clean up the service; call at the top of a test file or of a `describe.each(engines)`. */
export function useServiceHarness(options: HarnessOptions): ServiceHarness {
  const place = new StorePlace(options.name, options.engine ?? 'sqlite');
  let clock: ManualClock | undefined;
  let handle: ServiceHandle | undefined;

  const open = () => options.open({ ...place.location, service: { port: 0, logger: false, ...(clock ? { clock } : {}) } });
  const current = (): ServiceHandle => {
    if (!handle) throw new Error('the harness is used outside a test');
    return handle;
  };

  beforeEach(async () => {
    await place.setUp();
    clock = options.startAt === undefined ? undefined : new ManualClock(options.startAt);
    handle = await open();
  });

  afterEach(async () => {
    try {
      await handle?.stop();
    } finally {
      handle = undefined;
      await place.tearDown();
    }
  });

  afterAll(() => place.dispose());

  const inject = (request: InjectOptions) => current().app.inject(request);

  async function send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown): Promise<Sent> {
    const res = await inject(
      payload === undefined
        ? { method, url }
        : { method, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) },
    );
    return { status: res.statusCode, headers: res.headers, body: res.body ? (res.json() as Json) : undefined, raw: res };
  }

  async function create(path: string, body: unknown): Promise<Json> {
    const res = await send('POST', path, body);
    expect(res.status).toBe(201);
    return res.body as Json;
  }

  async function allPages(firstUrl: string): Promise<Json[]> {
    const seen: Json[] = [];
    let url: string | undefined = firstUrl;
    while (url) {
      const res = await inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      seen.push(...(res.json() as Json[]));
      const link = res.headers.link as string | undefined;
      url = link?.match(/^<([^>]+)>; rel="next"$/)?.[1];
    }
    return seen;
  }

  return {
    get handle() {
      return current();
    },
    get dataDir() {
      return place.location.dataDir;
    },
    engine: place.engine,
    get location() {
      return place.location;
    },
    openStore: <DB>(service: string, migrations: Record<string, Migration>) => place.openStore<DB>(service, migrations),
    get clock() {
      if (!clock) throw new Error('this harness has no ManualClock: give it startAt');
      return clock;
    },
    inject,
    send,
    create,
    allPages,
    async restart() {
      await current().stop();
      handle = await open();
    },
  };
}

/** An RFC 9457 problem answer with this status, a title and a detail. */
export function expectProblem(res: Sent, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
}

/** Unique per test file run: the process id and a random tag; each test adds a counter. */
const runTag = `t${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
let placeCount = 0;

/** One test's store location on one engine, and the stores opened there by the test itself. */
class StorePlace implements TestStores {
  private current: StoreLocation | undefined;
  private readonly opened: Store<unknown>[] = [];
  private admin: pg.Pool | undefined;

  constructor(
    private readonly name: string,
    readonly engine: Engine,
  ) {}

  get location(): StoreLocation {
    if (!this.current) throw new Error('the harness is used outside a test');
    return this.current;
  }

  async setUp(): Promise<void> {
    const dataDir = await mkdtemp(join(tmpdir(), `meshkit-${this.name}-`));
    placeCount += 1;
    this.current =
      this.engine === 'postgres' ? { dataDir, databaseUrl: PG_URL, schemaPrefix: `${runTag}_${placeCount}_` } : { dataDir };
  }

  async openStore<DB>(service: string, migrations: Record<string, Migration>): Promise<Store<DB>> {
    const store = await openStore<DB>({ service, migrations, ...this.location });
    this.opened.push(store as Store<unknown>);
    return store;
  }

  async tearDown(): Promise<void> {
    const place = this.current;
    this.current = undefined;
    await Promise.all(this.opened.splice(0).map((s) => s.close()));
    if (!place) return;
    await rm(place.dataDir, { recursive: true, force: true });
    if (place.schemaPrefix !== undefined) await this.dropSchemas(place.schemaPrefix);
  }

  /** Every schema this test made, whatever services it opened. */
  private async dropSchemas(prefix: string): Promise<void> {
    this.admin ??= new pg.Pool({ connectionString: PG_URL, max: 1 });
    const { rows } = await this.admin.query<{ name: string }>(
      'select nspname as name from pg_namespace where left(nspname, length($1)) = $1',
      [prefix],
    );
    for (const { name } of rows) await this.admin.query(`drop schema if exists ${pg.escapeIdentifier(name)} cascade`);
  }

  async dispose(): Promise<void> {
    await this.admin?.end();
    this.admin = undefined;
  }
}
