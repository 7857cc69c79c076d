import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, systemClock } from '../clock.js';
import type { Store } from './store.js';
import { isUniqueViolation } from './unique-violation.js';

/** The table the toolkit keeps in every service's own database; created at start, no migration. */
export const IDEMPOTENCY_TABLE = 'meshkit_idempotency';

/** Defaults: responses kept 24 h; a running claim not finished within 60 s may be taken over. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 60 * 1000;
/** Expired rows are deleted lazily, at most this often. */
export const DEFAULT_IDEMPOTENCY_PURGE_EVERY_MS = 60 * 1000;

/** One key: a claim while its first request runs, then the response it got. Times are epoch ms. */
interface IdempotencyRow {
  key: string;
  /** sha256 of the request the key was first used for. */
  fingerprint: string;
  state: 'running' | 'done';
  /** Who holds the claim: a fresh random value per claim, so a stale owner cannot overwrite a new one. */
  token: string;
  status: number | null;
  content_type: string | null;
  body: string | null;
  /** `utf8` (text as it was sent) or `base64` (bytes). */
  body_encoding: string | null;
  created_at: number | string;
  /** A running row older than this may be taken over: its process is presumed dead. */
  locked_until: number | string;
  /** After this the row counts as absent and is purged. */
  expires_at: number | string;
}

interface IdempotencyDatabase {
  [IDEMPOTENCY_TABLE]: IdempotencyRow;
}

/** A response as recorded and replayed. */
export interface RecordedResponse {
  status: number;
  contentType: string | undefined;
  /** Undefined for an empty body. */
  body: Buffer | undefined;
}

/** What a claim on a key found. */
export type ClaimOutcome =
  /** This request owns the key: run it, then `complete` or `release` with the token. */
  | { kind: 'claimed'; token: string }
  /** The same request already finished: answer with its response. */
  | { kind: 'replay'; response: RecordedResponse }
  /** The same request is running elsewhere (and its lease has not run out). */
  | { kind: 'in_progress' }
  /** The key was used for a different request. */
  | { kind: 'mismatch' };

export interface IdempotencyStoreOptions {
  /** How long a recorded response is kept. Default 24 h. */
  ttlMs?: number;
  /** How long a running claim holds before another request may take it over. Default 60 s. */
  leaseMs?: number;
  /** Least time between two purges of expired rows. Default 60 s. */
  purgeEveryMs?: number;
  clock?: Clock;
  logger?: { warn(obj: object, msg?: string): void };
}

/** How many times a claim retries when the row changes under it (released, purged, taken over). */
const CLAIM_ATTEMPTS = 3;

/**
 * Idempotency keys in a service's own database (SQLite or PostgreSQL through kysely). Every
 * decision between concurrent requests is made by the database: a claim is an insert on the
 * primary key (`ON CONFLICT DO NOTHING`), a takeover is a conditional update on the claim's token
 * and state, so two replicas sharing one PostgreSQL never both run the same key.
 */
export class IdempotencyStore {
  readonly ttlMs: number;
  readonly leaseMs: number;
  private readonly purgeEveryMs: number;
  private readonly clock: Clock;
  private readonly db: Kysely<IdempotencyDatabase>;
  private lastPurge = Number.NEGATIVE_INFINITY;

  constructor(
    store: Store<any>,
    private readonly options: IdempotencyStoreOptions = {},
  ) {
    this.db = store.db as Kysely<IdempotencyDatabase>;
    this.ttlMs = positive('ttlMs', options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS);
    this.leaseMs = positive('leaseMs', options.leaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS);
    this.purgeEveryMs = options.purgeEveryMs ?? DEFAULT_IDEMPOTENCY_PURGE_EVERY_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** Creates the table and its index when missing. Safe to run from several replicas at once. */
  async ensureTable(): Promise<void> {
    await tolerateConcurrentCreate(() =>
      this.db.schema
        .createTable(IDEMPOTENCY_TABLE)
        .ifNotExists()
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('content_type', 'text')
        .addColumn('body', 'text')
        .addColumn('body_encoding', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute(),
    );
    await tolerateConcurrentCreate(() =>
      this.db.schema
        .createIndex(`${IDEMPOTENCY_TABLE}_expires_at`)
        .ifNotExists()
        .on(IDEMPOTENCY_TABLE)
        .column('expires_at')
        .execute(),
    );
  }

  /** Claims `key` for a request with this fingerprint, or says why it cannot run. */
  async claim(key: string, fingerprint: string): Promise<ClaimOutcome> {
    await this.purgeIfDue();
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const now = this.now();
      const token = randomUUID();
      const inserted = await this.db
        .insertInto(IDEMPOTENCY_TABLE)
        .values({ ...this.freshClaim(fingerprint, token, now), key })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { kind: 'claimed', token };

      const row = await this.db.selectFrom(IDEMPOTENCY_TABLE).selectAll().where('key', '=', key).executeTakeFirst();
      if (!row) continue; // released or purged since the insert: try again
      const expired = Number(row.expires_at) <= now;
      if (!expired) {
        if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
        if (row.state === 'done') return { kind: 'replay', response: responseOf(row) };
        if (Number(row.locked_until) > now) return { kind: 'in_progress' };
      }
      // An expired row, or a claim whose lease ran out: take it over, unless another request
      // did first or its owner finished meanwhile (then the token or the state has changed).
      const taken = await this.db
        .updateTable(IDEMPOTENCY_TABLE)
        .set(this.freshClaim(fingerprint, token, now))
        .where('key', '=', key)
        .where('token', '=', row.token)
        .where('state', '=', row.state)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 1) return { kind: 'claimed', token };
    }
    return { kind: 'in_progress' };
  }

  /** Records the response of a claimed request. False when the claim was lost (taken over). */
  async complete(key: string, token: string, response: RecordedResponse): Promise<boolean> {
    const now = this.now();
    const result = await this.db
      .updateTable(IDEMPOTENCY_TABLE)
      .set({
        state: 'done',
        status: response.status,
        content_type: response.contentType ?? null,
        ...encodeBody(response.body),
        expires_at: now + this.ttlMs,
      })
      .where('key', '=', key)
      .where('token', '=', token)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Forgets a claim so the key can be used again (the request failed). False when it was not held. */
  async release(key: string, token: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom(IDEMPOTENCY_TABLE)
      .where('key', '=', key)
      .where('token', '=', token)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  /** Deletes every expired row; returns how many. */
  async purgeExpired(): Promise<number> {
    const now = this.now();
    this.lastPurge = now;
    const result = await this.db.deleteFrom(IDEMPOTENCY_TABLE).where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private async purgeIfDue(): Promise<void> {
    if (this.now() - this.lastPurge < this.purgeEveryMs) return;
    try {
      await this.purgeExpired();
    } catch (err) {
      // Expired rows are ignored by claims anyway; the next purge will catch up.
      this.options.logger?.warn({ err }, 'purging expired idempotency keys failed');
    }
  }

  private freshClaim(fingerprint: string, token: string, now: number) {
    return {
      fingerprint,
      state: 'running' as const,
      token,
      status: null,
      content_type: null,
      body: null,
      body_encoding: null,
      created_at: now,
      locked_until: now + this.leaseMs,
      expires_at: now + this.ttlMs,
    };
  }

  /** Whole milliseconds: PostgreSQL's bigint refuses fractions (the system clock has them). */
  private now(): number {
    return Math.floor(this.clock.now());
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`idempotency ${name} must be a positive number of ms`);
  return value;
}

function encodeBody(body: Buffer | undefined): Pick<IdempotencyRow, 'body' | 'body_encoding'> {
  if (body === undefined) return { body: null, body_encoding: null };
  // Text that survives a round trip as UTF-8 is kept readable; anything else as base64.
  const text = body.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(body) && !text.includes('\u0000')) return { body: text, body_encoding: 'utf8' };
  return { body: body.toString('base64'), body_encoding: 'base64' };
}

function responseOf(row: IdempotencyRow): RecordedResponse {
  const body =
    row.body === null ? undefined : Buffer.from(row.body, row.body_encoding === 'base64' ? 'base64' : 'utf8');
  return { status: Number(row.status), contentType: row.content_type ?? undefined, body };
}

/**
 * PostgreSQL's `CREATE … IF NOT EXISTS` is not atomic: two replicas starting together can both
 * pass the check, and the loser fails on the catalogue (a unique violation, or "already exists":
 * 42P07, 42710). Once the winner has committed, the same statement finds the object and does
 * nothing, so the loser runs it again.
 */
async function tolerateConcurrentCreate(create: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await create();
      return;
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const raced = isUniqueViolation(err) || code === '42P07' || code === '42710';
      if (!raced || attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}
