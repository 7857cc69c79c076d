import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteRedisKeys, REDIS_URL, redisUp } from '../support/backends.js';
import { eventually, freePort, killAll, listening, meshkit } from '../support/processes.js';

/**
 * `GATEWAY_WORKERS=2 meshkit run gateway`: two gateway processes behind one port (node:cluster),
 * both serving, a killed worker replaced, and SIGTERM stopping the lot with exit 0.
 */
afterEach(killAll);

/** One GET on a connection of its own: a kept-alive connection would stay with one worker. */
function getOnNewConnection(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The gateway ids that answered `/health` on `tries` new connections. */
async function healthIds(port: number, tries: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = 0; i < tries; i += 1) {
    const r = await getOnNewConnection(port, '/health');
    if (r.status === 200) ids.add((JSON.parse(r.body) as { service_id: string }).service_id);
  }
  return ids;
}

/** The pids of a process's children, from /proc (every thread's list: any of them may have forked). */
function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (list) pids.push(...list.split(/\s+/).map(Number));
  }
  return pids.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.runIf(await redisUp())('GATEWAY_WORKERS', () => {
  it('runs two gateway workers on one port, replaces a killed one, and stops all on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meshkit-workers-'));
    const prefix = `meshkit-test:${randomUUID()}:`;
    const common = { REDIS_URL, REGISTRY_PREFIX: prefix, REGISTRY_TTL_MS: '1500', HEARTBEAT_MS: '500', DATA_DIR: dataDir };
    const port = await freePort();
    const products = meshkit(['run', 'products'], { ...common, PORT: String(await freePort()) });
    const gateway = meshkit(['run', 'gateway'], { ...common, GATEWAY_PORT: String(port), GATEWAY_WORKERS: '2' });
    try {
      // The primary prints the one announcement once both workers are up.
      await eventually(() => gateway.output().includes(`gateway  http://127.0.0.1:${port}`), 20_000);
      const primary = gateway.child.pid as number;
      const workers = childPids(primary);
      expect(workers, gateway.output()).toHaveLength(2);

      // Both workers answer on the shared port, each with its own id, and both proxy to products.
      const seen = await eventually(async () => {
        const ids = await healthIds(port, 10);
        return ids.size === 2 && ids;
      }, 10_000, 50);
      await eventually(async () => {
        const answers = await Promise.all(Array.from({ length: 6 }, () => getOnNewConnection(port, '/products')));
        return answers.every((a) => a.status === 200);
      }, 10_000);

      // A worker killed with SIGKILL is replaced; the port keeps answering meanwhile.
      const [victim, survivor] = workers as [number, number];
      process.kill(victim, 'SIGKILL');
      const replacement = await eventually(() => {
        const now = childPids(primary);
        return now.length === 2 && now.includes(survivor) && !now.includes(victim) && now.find((p) => p !== survivor);
      }, 15_000, 50);
      expect(gateway.output()).toContain(`gateway worker`);
      expect(gateway.output()).toContain(`(pid ${victim}) was killed by SIGKILL; restarting in`);
      await eventually(async () => {
        const ids = await healthIds(port, 10);
        return ids.size === 2 && [...ids].some((id) => !seen.has(id));
      }, 15_000, 50);

      // SIGTERM to the primary stops every worker gracefully: exit 0, nothing left on the port.
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited, gateway.output()).toBe(0);
      expect(await listening(port)).toBe(false);
      for (const pid of [survivor, replacement]) expect(alive(pid), `worker ${pid}`).toBe(false);
    } finally {
      products.child.kill('SIGTERM');
      await products.exited;
      await deleteRedisKeys(prefix);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('refuses a bad GATEWAY_WORKERS with one line naming it', async () => {
    const bad = meshkit(['run', 'gateway'], { REDIS_URL, GATEWAY_WORKERS: '0' });
    expect(await bad.exited).toBe(2);
    expect(bad.output().trim()).toBe('meshkit: GATEWAY_WORKERS must be an integer from 1 to 64, got "0"');
  });
});
