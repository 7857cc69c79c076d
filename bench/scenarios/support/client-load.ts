import { execFile } from 'node:child_process';
import type { ClientLoadResult } from './client-load-result.js';
import { scenarioServer } from './paths.js';
import { serverEnv } from './server-env.js';

export type { ClientLoadResult } from './client-load-result.js';

export interface ClientLoadOptions {
  mode: 'pool' | 'client';
  targets: string[];
  /** Timed requests (at most, with `durationMs`). */
  requests: number;
  /** Stop the timed part after this long, whatever `requests` says. */
  durationMs?: number;
  /** Untimed requests first: a count, or `{ ms }` to warm up for that long. */
  warmup: number | { ms: number };
  concurrency: number;
  strategy?: string;
  /** Pinning prefix of the load process. */
  pin: string[];
}

/** Runs servers/client-load.js in a process of its own (pinned) and returns what it measured. */
export function runClientLoad(options: ClientLoadOptions): Promise<ClientLoadResult> {
  const argv = [...options.pin, process.execPath, scenarioServer('client-load')];
  const env = serverEnv({
    MODE: options.mode,
    TARGETS: options.targets.join(','),
    REQUESTS: String(options.requests),
    DURATION_MS: options.durationMs === undefined ? undefined : String(options.durationMs),
    WARMUP: typeof options.warmup === 'number' ? String(options.warmup) : '0',
    WARMUP_MS: typeof options.warmup === 'number' ? undefined : String(options.warmup.ms),
    CONCURRENCY: String(options.concurrency),
    STRATEGY: options.strategy,
  });
  return new Promise((resolve, reject) => {
    execFile(argv[0] as string, argv.slice(1), { env, timeout: 5 * 60_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`client load (${options.mode}) failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ClientLoadResult);
      } catch {
        reject(new Error(`client load (${options.mode}) printed no result:\n${stdout}\n${stderr}`));
      }
    });
  });
}
