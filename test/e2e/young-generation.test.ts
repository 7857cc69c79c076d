import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from '../support/backends.js';
import { eventually, freePort, killAll, meshkit, type Proc } from '../support/processes.js';

const MiB = 1024 * 1024;

/**
 * `meshkit run gateway` keeps V8's young generation at two 4 MiB semi-spaces (apps/cli/src/
 * young-generation.ts), which its own /metrics shows; a user's `--max-semi-space-size` wins.
 * Loading the gateway's modules alone grows an unsteered young generation past 8 MiB.
 */
describe.runIf(await redisUp())('the young generation of `meshkit run gateway`', () => {
  const prefix = `meshkit-test:${randomUUID()}:`;
  let gateway: Proc | undefined;

  afterEach(async () => {
    gateway?.child.kill('SIGTERM');
    await gateway?.exited;
    killAll();
    await deleteRedisKeys(prefix);
  });

  async function newSpaceAfterRequests(env: Record<string, string>): Promise<number> {
    const port = await freePort();
    gateway = meshkit(['run', 'gateway'], { REDIS_URL, REGISTRY_PREFIX: prefix, GATEWAY_PORT: String(port), ...env });
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/health`).catch(() => undefined))?.ok, 20_000);
    for (let i = 0; i < 300; i++) await (await fetch(`${url}/registry`)).arrayBuffer();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const line = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(metrics);
    expect(line, metrics.slice(0, 2000)).not.toBeNull();
    return Number(line?.[1]);
  }

  it('is capped at 8 MiB once the gateway serves', async () => {
    const newSpace = await newSpaceAfterRequests({});
    expect(newSpace).toBeGreaterThan(0);
    expect(newSpace).toBeLessThanOrEqual(8 * MiB);
  }, 40_000);

  it("is the user's to size with --max-semi-space-size", async () => {
    const newSpace = await newSpaceAfterRequests({ NODE_OPTIONS: '--max-semi-space-size=16' });
    expect(newSpace).toBeGreaterThan(8 * MiB);
  }, 40_000);
});
