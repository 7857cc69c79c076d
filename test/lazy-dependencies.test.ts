import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

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
});
