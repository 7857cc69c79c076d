import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Clock } from '../clock.js';
import { MeshError } from '../errors.js';
import { IdempotencyStore } from '../store/idempotency-store.js';
import type { Store } from '../store/store.js';

/** Idempotency for a service's POST routes (`ServiceDefinition.idempotency`). */
export interface IdempotencyOptions {
  /** The service's own store (of any tables): the keys live in its database, in the table `meshkit_idempotency`. */
  store: Store<any>;
  /** How long a recorded response is replayed. Default 24 h. */
  ttlMs?: number;
  /** A first attempt still running after this long is presumed dead and may be taken over. Default 60 s. */
  leaseMs?: number;
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The key of an `Idempotency-Key` header: 1–255 visible ASCII characters, sent bare (`abc`) or as
 * the draft's Structured Field string (`"abc"`, whose quotes are not part of the key).
 * Anything else is a 400.
 */
export function parseIdempotencyKey(value: string): string {
  const key = unquote(value);
  if (key === undefined || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !VISIBLE_ASCII.test(key)) {
    throw new MeshError(
      'BAD_REQUEST',
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`,
    );
  }
  return key;
}

/** An sf-string's content (`\"` and `\\` unescaped), the value itself when unquoted, undefined when malformed. */
function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) return undefined;
  let out = '';
  const inner = value.slice(1, -1);
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '"') return undefined;
    if (c === '\\') {
      const next = inner[++i];
      if (next !== '"' && next !== '\\') return undefined;
      out += next;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * What makes two requests "the same" for one key: sha256 over the method, the request target
 * (path and query) and the body — canonical JSON (keys sorted, whitespace gone) for a parsed JSON
 * body, the bytes or text as they came otherwise.
 */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  const hash = createHash('sha256').update(`${method.toUpperCase()}\n${url}\n`);
  if (body === undefined) hash.update('none');
  else if (Buffer.isBuffer(body)) hash.update('bytes\n').update(body);
  else if (typeof body === 'string') hash.update('text\n').update(body);
  else hash.update('json\n').update(canonicalJson(body));
  return hash.digest('hex');
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const obj = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .map((k) => [k, obj[k]]),
    );
  });
}

/** One POST carrying a key, from its check to its recording. */
interface Attempt {
  key: string;
  fingerprint: string;
  /** Set once this request holds the key. */
  token?: string;
  /** Recorded or released: nothing more to do. */
  settled: boolean;
}

/**
 * Makes every POST route of `app` (routes added after this call) honour `Idempotency-Key`
 * (IETF httpapi idempotency-key-header draft): the key is claimed in the service's database after
 * the body validated; a 2xx or 4xx response is recorded and replayed to the same request with
 * `Idempotent-Replayed: true`, without running the handler; a 5xx (or a thrown error) releases the
 * key for a retry. The same key for another request is a 422; while its first request runs, a 409
 * with `Retry-After: 1`. POSTs without the header are untouched. Creates the table when missing.
 */
export async function installIdempotency(
  app: FastifyInstance<any, any, any, any, any>,
  options: IdempotencyOptions & { clock?: Clock },
): Promise<IdempotencyStore> {
  const keys = new IdempotencyStore(options.store, {
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    logger: app.log,
  });
  await keys.ensureTable();

  const attempts = new WeakMap<FastifyRequest, Attempt>();

  // Before validation, which fills in defaults: the fingerprint is of the body as sent.
  const check = async (request: FastifyRequest): Promise<void> => {
    const header = request.headers[IDEMPOTENCY_KEY_HEADER];
    if (header === undefined || request.method !== 'POST') return;
    const key = parseIdempotencyKey(Array.isArray(header) ? header.join(', ') : header);
    attempts.set(request, { key, fingerprint: requestFingerprint(request.method, request.url, request.body), settled: false });
  };

  // After validation: an invalid body never uses up a key, so the client can correct it.
  const claim = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const attempt = attempts.get(request);
    if (!attempt) return undefined;
    let outcome: Awaited<ReturnType<IdempotencyStore['claim']>>;
    try {
      outcome = await keys.claim(attempt.key, attempt.fingerprint);
    } catch (err) {
      request.log.error({ err }, 'idempotency key could not be claimed');
      throw new MeshError('NO_HEALTHY_INSTANCE', 'The idempotency key could not be checked; retry later', {
        retryAfter: 1,
        cause: err,
      });
    }
    switch (outcome.kind) {
      case 'claimed':
        attempt.token = outcome.token;
        return undefined;
      case 'replay': {
        const { status, contentType, body } = outcome.response;
        request.log.info({ status }, 'idempotent replay');
        reply.code(status).header(IDEMPOTENT_REPLAYED_HEADER, 'true');
        if (contentType !== undefined) reply.header('content-type', contentType);
        return reply.send(body);
      }
      case 'in_progress':
        throw new MeshError('CONFLICT', 'A request with this Idempotency-Key is still being processed; retry later', {
          retryAfter: 1,
        });
      case 'mismatch':
        throw new MeshError('UNPROCESSABLE', 'This Idempotency-Key was already used for a different request');
    }
  };

  // Recorded before the response leaves: once a client has seen it, a retry replays it.
  const record = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const attempt = attempts.get(request);
    if (!attempt?.token || attempt.settled) return payload;
    attempt.settled = true;
    const body = recordableBody(payload);
    try {
      if (reply.statusCode >= 500 || body === false) {
        await keys.release(attempt.key, attempt.token);
        if (body === false) request.log.warn('a streamed response cannot be recorded; the idempotency key was released');
      } else {
        const contentType = reply.getHeader('content-type');
        const recorded = await keys.complete(attempt.key, attempt.token, {
          status: reply.statusCode,
          contentType: contentType === undefined ? undefined : String(contentType),
          body,
        });
        if (!recorded) request.log.warn('the idempotency key was taken over before its response was recorded');
      }
    } catch (err) {
      // The response stands; the claim's lease runs out and the key can be retried then.
      request.log.error({ err }, 'idempotency key could not be recorded');
    }
    return payload;
  };

  // A request that ended without sending through `record` (it never does today) must not hold its key.
  const releaseLeftover = async (request: FastifyRequest): Promise<void> => {
    const attempt = attempts.get(request);
    if (!attempt?.token || attempt.settled) return;
    attempt.settled = true;
    await keys.release(attempt.key, attempt.token).catch((err: unknown) => {
      request.log.error({ err }, 'idempotency key could not be released');
    });
  };

  app.addHook('onRoute', (route: RouteOptions<any, any, any, any, any, any, any, any>) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST')) return;
    const hooks = route as unknown as Record<string, unknown>;
    appendHook(hooks, 'preValidation', check);
    appendHook(hooks, 'preHandler', claim);
    appendHook(hooks, 'onSend', record);
    appendHook(hooks, 'onResponse', releaseLeftover);
  });
  return keys;
}

/** The body as bytes, undefined when empty, false when it cannot be recorded (a stream). */
function recordableBody(payload: unknown): Buffer | undefined | false {
  if (payload === undefined || payload === null) return undefined;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (Buffer.isBuffer(payload)) return payload;
  return false;
}

type HookName = 'preValidation' | 'preHandler' | 'onSend' | 'onResponse';

/** Adds a route-level hook after the route's own ones. */
function appendHook(route: Record<string, unknown>, name: HookName, hook: unknown): void {
  const existing = route[name];
  route[name] = existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook];
}
