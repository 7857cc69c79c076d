import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REDIS_URL, redisUp } from './support/backends.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const redisAnswers = await redisUp();

/**
 * What a fresh Node process has loaded, step by step: CommonJS packages (pg, better-sqlite3, the
 * OpenTelemetry SDK, pino-pretty) show in require.cache whether they were imported or required.
 */
const SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = () => {
  const files = Object.keys(require.cache);
  const has = (pkg) => files.some((f) => f.includes('/node_modules/' + pkg + '/'));
  return {
    pg: has('pg'),
    betterSqlite3: has('better-sqlite3'),
    otelSdk: has('@opentelemetry/sdk-trace-base'),
    pinoPretty: has('pino-pretty'),
  };
};
const toolkit = await import('@meshkit/toolkit');
await import('@meshkit/gateway');
const steps = { imported: loaded() };
const store = await toolkit.openSqliteStore({ file: ':memory:', migrations: {} });
steps.storeOpened = loaded();
await store.close();
const tracing = toolkit.startTracing({ serviceName: 'lazy-test', endpoint: 'http://127.0.0.1:9' });
steps.tracingStarted = loaded();
await tracing.shutdown();
const { Writable } = await import('node:stream');
toolkit.createLogger({ pretty: true, destination: new Writable({ write: (_c, _e, done) => done() }) }).info('hi');
steps.prettyLogger = loaded();
console.log(JSON.stringify(steps));
`;

/** Preloaded into the CLI: on exit, whether undici was loaded (CommonJS, so require.cache shows it). */
const REPORT_UNDICI =
  "data:text/javascript,import { createRequire } from 'node:module'; const require = createRequire(process.cwd() + '/'); " +
  "process.on('exit', () => process.stdout.write('\\nundici=' + Object.keys(require.cache).some((f) => f.includes('/node_modules/undici/'))));";

/**
 * Preloaded into a process: writes `typebox=loaded` to stderr once typebox loads. It is an ES
 * module package, which require.cache never shows, so a module hook watches the loads; hooks run
 * on their own thread, and writeSync reaches stderr whatever the process does next.
 */
const TYPEBOX_LOADED = 'typebox=loaded';
const TYPEBOX_HOOK = `
import { writeSync } from 'node:fs';
let seen = false;
export async function load(url, context, next) {
  if (!seen && url.includes('/node_modules/typebox/')) {
    seen = true;
    writeSync(2, '\\n${TYPEBOX_LOADED}\\n');
  }
  return next(url, context);
}`;
const javascriptUrl = (source: string) => `data:text/javascript,${encodeURIComponent(source)}`;
const REPORT_TYPEBOX = javascriptUrl(
  `import { register } from 'node:module'; register(${JSON.stringify(javascriptUrl(TYPEBOX_HOOK))});`,
);

describe('dependencies a process loads only when it uses them', () => {
  it('the gateway and the toolkit load no database driver, no OpenTelemetry SDK and no pino-pretty until a store opens, tracing starts or a logger writes for people', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: ROOT,
      timeout: 30_000,
    });
    const steps = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(steps.imported).toEqual({ pg: false, betterSqlite3: false, otelSdk: false, pinoPretty: false });
    expect(steps.storeOpened).toEqual({ pg: false, betterSqlite3: true, otelSdk: false, pinoPretty: false });
    expect(steps.tracingStarted).toEqual({ pg: false, betterSqlite3: true, otelSdk: true, pinoPretty: false });
    expect(steps.prettyLogger).toEqual({ pg: false, betterSqlite3: true, otelSdk: true, pinoPretty: true });
  });

  it('the CLI loads undici only when demo or status runs', async () => {
    // `--help` loads what the CLI imports before any command runs (what `meshkit run gateway` holds besides its part), then exits.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', REPORT_UNDICI, 'apps/cli/bin/meshkit.js', '--help'],
      { cwd: ROOT, timeout: 30_000 },
    );
    expect(stdout.trim().split('\n').at(-1)).toBe('undici=false');
  });

  it("the gateway, the CLI and the toolkit's core load no typebox: only services, which write their schemas with it, do", async () => {
    const typeboxReport = async (args: string[]) =>
      (await promisify(execFile)(process.execPath, ['--import', REPORT_TYPEBOX, ...args], { cwd: ROOT, timeout: 30_000 }))
        .stderr;
    const importing = (specifiers: string[]) => [
      '--input-type=module',
      '-e',
      specifiers.map((s) => `await import('${s}');`).join(' '),
    ];
    expect(await typeboxReport(importing(['@meshkit/gateway', '@meshkit/toolkit/core']))).not.toContain(TYPEBOX_LOADED);
    expect(await typeboxReport(['apps/cli/bin/meshkit.js', '--help'])).not.toContain(TYPEBOX_LOADED);
    expect(await typeboxReport(importing(['@meshkit/toolkit']))).toContain(TYPEBOX_LOADED);
  });

  // typebox is ~3 MiB of heap, and the gateway's resident memory has a target (docs/performance.md).
  it.runIf(redisAnswers)('`meshkit run gateway` loads no typebox while it starts and serves', async () => {
    const child = spawn(process.execPath, ['--import', REPORT_TYPEBOX, 'apps/cli/bin/meshkit.js', 'run', 'gateway'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'warn',
        REDIS_URL,
        REGISTRY_PREFIX: `meshkit-test:${randomUUID()}:`,
        GATEWAY_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      // The gateway's line comes once it serves: everything it loads to start is loaded.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          stdout += d;
          if (/^gateway +http:/m.test(stdout)) resolve();
        });
        child.once('exit', () => reject(new Error(`meshkit exited before serving: ${stdout}${stderr}`)));
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(stderr).not.toContain(TYPEBOX_LOADED);
  }, 30_000);
});
