import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, type ServiceHandle, type ServiceOptions } from '@meshkit/toolkit';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, expect } from 'vitest';

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
  /** Opens the service on `dataDir`; called before each test and by `restart()`. */
  open: (options: { dataDir: string; service: ServiceOptions }) => Promise<ServiceHandle>;
  /** Gives the service a ManualClock starting here (epoch ms), fresh each test; left out, the system clock. */
  startAt?: number;
}

/** One service over its own store in a fresh temporary folder per test, reached by inject (no port is bound). */
export interface ServiceHarness {
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

/** Registers the beforeEach/afterEach that open and clean up the service; call at the top of a test file. */
export function useServiceHarness(options: HarnessOptions): ServiceHarness {
  let dataDir: string | undefined;
  let clock: ManualClock | undefined;
  let handle: ServiceHandle | undefined;

  const open = () => {
    if (dataDir === undefined) throw new Error('the harness is used outside a test');
    return options.open({ dataDir, service: { port: 0, logger: false, ...(clock ? { clock } : {}) } });
  };
  const current = (): ServiceHandle => {
    if (!handle) throw new Error('the harness is used outside a test');
    return handle;
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), `meshkit-${options.name}-`));
    clock = options.startAt === undefined ? undefined : new ManualClock(options.startAt);
    handle = await open();
  });

  afterEach(async () => {
    await handle?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    handle = undefined;
    dataDir = undefined;
  });

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
      if (dataDir === undefined) throw new Error('the harness is used outside a test');
      return dataDir;
    },
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
