import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../lib/ports.js';
import type { ProcessSet, Started } from '../../lib/processes.js';

/**
 * A redis-server of the scenario's own, on a free port, without persistence: its commandstats
 * count only what the processes of this scenario send. It runs under a small `sh` guard that
 * kills it once the bench is gone, even killed with SIGKILL (the guard polls its parent).
 */
export interface OwnRedis {
  url: string;
  process: Started;
  /** A connection of the bench's own (for CONFIG RESETSTAT and INFO); closed by `close()`. */
  admin: Redis;
  /** Closes `admin`; the server itself stops with the ProcessSet (last, as it was started first). */
  close(): void;
}

export async function startOwnRedis(processes: ProcessSet, pin: string[]): Promise<OwnRedis> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('this scenario runs a redis-server of its own, and redis-server is not installed (apt-get install redis-server)');
  }
  const port = await freePort();
  const server = `redis-server --port ${port} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning`;
  const guard =
    `${server} & r=$!; p=$PPID; ` +
    'while kill -0 "$p" 2>/dev/null && kill -0 "$r" 2>/dev/null; do sleep 1; done; kill -9 "$r" 2>/dev/null';
  const started = await processes.start({ name: 'redis-server', command: [...pin, 'sh', '-c', guard], ready: 'none' });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (admin.status !== 'ready') await admin.connect();
      if ((await admin.ping()) === 'PONG') break;
    } catch (err) {
      if (Date.now() > deadline) {
        admin.disconnect();
        throw new Error(`redis-server on port ${port} did not answer PING: ${(err as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    process: started,
    admin,
    close() {
      admin.disconnect();
    },
  };
}

/** One line of `INFO commandstats`: a command (`evalsha`, `config|resetstat`) and its calls. */
export interface CommandCalls {
  command: string;
  calls: number;
}

/** Reads `INFO commandstats` (`cmdstat_get:calls=12,usec=…`), most called first. */
export function parseCommandStats(info: string): CommandCalls[] {
  const out: CommandCalls[] = [];
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.push({ command: m[1] as string, calls: Number(m[2]) });
  }
  return out.sort((a, b) => b.calls - a.calls || a.command.localeCompare(b.command));
}
