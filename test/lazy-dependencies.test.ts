import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a fresh Node process has loaded, step by step: CommonJS packages (pg, better-sqlite3, the
 * OpenTelemetry SDK) show in require.cache whether they were imported or required.
 */
const SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = () => {
  const files = Object.keys(require.cache);
  const has = (pkg) => files.some((f) => f.includes('/node_modules/' + pkg + '/'));
  return { pg: has('pg'), betterSqlite3: has('better-sqlite3'), otelSdk: has('@opentelemetry/sdk-trace-base') };
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
console.log(JSON.stringify(steps));
`;

describe('dependencies a process loads only when it uses them', () => {
  it('the gateway and the toolkit load no database driver and no OpenTelemetry SDK until a store opens or tracing starts', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: ROOT,
      timeout: 30_000,
    });
    const steps = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(steps.imported).toEqual({ pg: false, betterSqlite3: false, otelSdk: false });
    expect(steps.storeOpened).toEqual({ pg: false, betterSqlite3: true, otelSdk: false });
    expect(steps.tracingStarted).toEqual({ pg: false, betterSqlite3: true, otelSdk: true });
  });
});
