import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PG_URL, pgUp, required } from '../support/backends.js';
import { eventually, freePort } from '../support/processes.js';
import { send } from '../support/shop.js';
import { AnswerLog } from './answer-log.js';
import { ChaosCluster, instancesOf, pidOf, PRODUCT_SERVICE, type RegistryView } from './cluster.js';
import { LoadGenerator, type LoadOptions } from './load.js';
import { isMeshkitAlive, killEverything, MeshProcess } from './mesh-process.js';
import { ARTIFACTS_DIR } from './report.js';
import { TestRedis } from './test-redis.js';
import { LOAD_RATE, TIMINGS } from './timings.js';

export { KNOWN_DEFECTS } from './known-defects.js';
export { LOAD_RATE, RESYNC_MS, TIMINGS } from './timings.js';

/**
 * Whether the chaos suite can run here: it needs redis-server (to own one) and PostgreSQL
 * (replicas share it). Under CI a missing one fails instead of skipping.
 */
export async function chaosBackendsUp(): Promise<boolean> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    if (required) throw new Error('redis-server is not installed, and CI requires the chaos suite');
    console.warn('skipping the chaos suite: redis-server is not installed');
    return false;
  }
  return pgUp();
}

/** Everything one chaos file runs against, started by `startChaosEnv`, gone after `close`. */
export interface ChaosEnv {
  redis: TestRedis;
  cluster: ChaosCluster;
  answers: AnswerLog;
  /** The environment of every meshkit process here (the cluster's children and extra parts). */
  env: Record<string, string>;
  registryPrefix: string;
  productId: string;
  userId: string;
  /** The steady load on a gateway (default: the cluster's); request ids `chaos-<scenario>-<n>`. */
  startLoad(scenario: string, options?: Partial<LoadOptions>): LoadGenerator;
  /** Stops every load still running (a scenario that failed halfway leaves its own on). */
  stopLoads(): Promise<void>;
  /** `meshkit run <part>` beside the cluster, with more environment; resolves once it announced its URL. */
  runPart(part: 'products' | 'gateway', extraEnv?: Record<string, string>): Promise<{ proc: MeshProcess; url: string }>;
  /**
   * Waits until the mesh is whole: `products` healthy products instances, users and orders, an
   * order and a GET going through, every circuit closed and nothing ejected.
   */
  steady(products?: number): Promise<RegistryView>;
  close(): Promise<void>;
}

/**
 * Starts a test-owned redis-server and `meshkit cluster --replicas products=3` (users and orders
 * once each) on the shared PostgreSQL under schemas of its own, and creates a user and a product
 * with plenty of stock. `close()` stops and removes all of it; it runs on failure too.
 */
export async function startChaosEnv(name: string): Promise<ChaosEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), `meshkit-chaos-${name}-`));
  // The start time is in the name, so that a later run can tell (and drop) what a killed run left.
  const schemaPrefix = `chaos_${Math.floor(Date.now() / 1000).toString(36)}_${randomUUID().slice(0, 6)}_`;
  const registryPrefix = `chaos:${randomUUID()}:`;
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const log: WriteStream = createWriteStream(join(ARTIFACTS_DIR, `chaos-${name}.log`));
  const answers = new AnswerLog();
  const extras: MeshProcess[] = [];
  const loads = new Set<LoadGenerator>();
  let redis: TestRedis | undefined;
  let cluster: ChaosCluster | undefined;

  const stopLoads = async () => {
    await Promise.all([...loads].map((l) => l.stop()));
    loads.clear();
  };
  const close = async () => {
    await stopLoads();
    await Promise.allSettled(extras.map((p) => p.stop(10_000)));
    await cluster?.stop().catch(() => undefined);
    killEverything();
    await redis?.close().catch(() => undefined);
    await dropSchemas(schemaPrefix).catch((err: unknown) => {
      console.warn(`chaos: could not drop the schemas ${schemaPrefix}*: ${String(err)}`);
    });
    rmSync(dataDir, { recursive: true, force: true });
    await new Promise<void>((resolve) => log.end(resolve));
  };

  try {
    await dropLeftovers();
    redis = await TestRedis.start();
    const env: Record<string, string> = {
      REDIS_URL: redis.url,
      REGISTRY_PREFIX: registryPrefix,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA_PREFIX: schemaPrefix,
      DATA_DIR: dataDir,
      // Every products instance logs its requests: that is how the suite tells which one answered.
      LOG_LEVEL: 'info',
      ...Object.fromEntries(Object.entries(TIMINGS).map(([k, v]) => [k, String(v)])),
    };
    const started = await ChaosCluster.start({
      replicas: 'products=3',
      env,
      gatewayPort: await freePort(),
      expected: { 'user-service': 1, [PRODUCT_SERVICE]: 3, 'order-service': 1 },
      onLine: (line) => answers.feed(line),
      log,
    });
    cluster = started;
    const url = started.url;
    const user = await send(url, 'POST', '/users', { name: 'Chaos Monkey', email: `${randomUUID()}@example.com` });
    const product = await send(url, 'POST', '/products', { name: 'Chaos kit', price: 1.5, stock: 100_000_000 });
    if (user.status !== 201 || product.status !== 201) {
      throw new Error(`seeding failed: ${user.status} ${JSON.stringify(user.body)}, ${product.status} ${JSON.stringify(product.body)}`);
    }
    const productId = product.body.id as string;
    const userId = user.body.id as string;
    const order = { user_id: userId, items: [{ product_id: productId, quantity: 1 }] };
    // Warm up, not measured: connection pools, JIT. Straight into the full rate, a cold orders service
    // can take more than the 500 ms per attempt for its first orders.
    for (const [rate, ms] of [[30, 1000], [75, 1000], [LOAD_RATE, 2000]] as const) {
      const warm = LoadGenerator.start({ url, rate, productId, userId, idPrefix: 'warm-' });
      await sleep(ms);
      await warm.stop();
    }

    return {
      redis,
      cluster: started,
      answers,
      env,
      registryPrefix,
      productId,
      userId,
      startLoad(scenario, options = {}) {
        const load = LoadGenerator.start({ url, rate: LOAD_RATE, productId, userId, idPrefix: `chaos-${scenario}-`, ...options });
        loads.add(load);
        return load;
      },
      stopLoads,
      async runPart(part, extraEnv = {}) {
        const port = String(await freePort());
        const proc = new MeshProcess(
          ['run', part],
          { ...env, ...(part === 'gateway' ? { GATEWAY_PORT: port } : { PORT: port }), ...extraEnv },
          { name: `${part}-${extras.length + 1}`, log, onLine: (line) => answers.feed(line) },
        );
        extras.push(proc);
        const announced = await Promise.race([
          proc.waitFor(new RegExp(`^${part} +(http\\S+)$`), 30_000),
          proc.exited.then((code) => {
            throw new Error(`meshkit run ${part} exited (${code}) before it was up\n${proc.tail()}`);
          }),
        ]);
        return { proc, url: announced[1] ?? '' };
      },
      async steady(products = 3) {
        const since = Date.now();
        // Up to BREAKER_OPEN_MS (60 s) and more: a breaker an earlier scenario opened must have let
        // its probe through, which the probes here provide (an open breaker admits one when its time is up).
        const view = await eventually(
          async () => {
            const view = await started.registry();
            const ps = instancesOf(view, PRODUCT_SERVICE);
            const registered =
              ps.length === products &&
              ps.every((i) => i.status === 'healthy' && isMeshkitAlive(pidOf(i))) &&
              ['user-service', 'order-service'].every((name) => instancesOf(view, name).length === 1);
            if (!registered) return undefined;
            const get = await send(url, 'GET', `/products/${productId}`);
            const placed = await send(url, 'POST', '/orders', order);
            if (get.status !== 200 || placed.status !== 201) return undefined;
            const all = view.services.flatMap((s) => s.instances);
            return all.every((i) => i.circuit === 'closed' && !i.ejected) ? view : undefined;
          },
          75_000,
          250,
        );
        const waited = Date.now() - since;
        if (waited > 5000) console.warn(`chaos: the mesh took ${waited} ms to be whole again before the next scenario`);
        return view;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A run killed before its cleanup leaves schemas (and a data folder): those older than 15 minutes
 * are dropped (a chaos file takes less than 5, so a run going on elsewhere keeps its own).
 */
async function dropLeftovers(): Promise<void> {
  const staleBefore = Date.now() / 1000 - 15 * 60;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^chaos_[0-9a-z]+_[0-9a-f]{6}_(users|products|orders)$'",
    );
    for (const { name } of rows) {
      const born = Number.parseInt(name.split('_')[1] ?? '', 36);
      if (born < staleBefore) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    }
  } finally {
    await client.end();
  }
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith('meshkit-chaos-')) continue;
    const path = join(tmpdir(), entry);
    if (statSync(path).mtimeMs < staleBefore * 1000) rmSync(path, { recursive: true, force: true });
  }
}

async function dropSchemas(prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    for (const s of ['users', 'products', 'orders']) {
      await client.query(`DROP SCHEMA IF EXISTS "${prefix}${s}" CASCADE`);
    }
  } finally {
    await client.end();
  }
}

/** Anything with a `now()` in ms: a load generator's clock, so marks and samples share one time base. */
export interface Stopwatch {
  now(): number;
}

export const wallClock: Stopwatch = { now: () => performance.now() };

/**
 * Polls `probe` every `everyMs` until it holds; resolves with the ms from `since` (on `clock`)
 * to then, or undefined after `timeoutMs`. A probe that throws counts as not yet.
 */
export async function timeUntil(
  clock: Stopwatch,
  since: number,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 25,
): Promise<number | undefined> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.resolve()
      .then(probe)
      .catch(() => false);
    if (ok) return clock.now() - since;
    if (clock.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

/** Sleeps until `at` on `clock` (at once when it has passed). */
export async function sleepUntil(clock: Stopwatch, at: number): Promise<void> {
  const left = at - clock.now();
  if (left > 0) await sleep(left);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
