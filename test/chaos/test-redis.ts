import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { eventually, freePort, listening } from '../support/processes.js';

/**
 * A `redis-server` owned by one chaos file, on its own free port, without persistence: killing
 * or flushing it never disturbs the shared Redis other suites use.
 *
 * redis-server runs under a small `sh` guard that kills it when the guard's stdin closes, i.e.
 * when this test process goes away, however it goes (even SIGKILL): no orphan keeps the port.
 */
export class TestRedis {
  private guard: ChildProcess | undefined;
  private serverPid: number | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The pid of redis-server itself (not of its guard), while it runs. */
  get pid(): number | undefined {
    return this.serverPid;
  }

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.launch();
    return redis;
  }

  /** Starts redis-server on this port (again, after `kill`); resolves once it answers PING. */
  async launch(): Promise<void> {
    if (this.guard) throw new Error('redis-server already runs');
    // No persistence: a restart comes back empty, as a crashed cache-only Redis does.
    const server = `redis-server --port ${this.port} --bind 127.0.0.1 --save "" --appendonly no`;
    const script = `${server} >/dev/null 2>&1 & echo $!; cat >/dev/null; kill -9 $! 2>/dev/null`;
    const guard = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.guard = guard;
    guard.once('exit', () => {
      if (this.guard === guard) {
        this.guard = undefined;
        this.serverPid = undefined;
      }
    });
    this.serverPid = await new Promise<number>((resolve, reject) => {
      guard.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      guard.once('error', reject);
    });
    await eventually(() => this.ping(), 5000, 50);
  }

  /** True when the server answers PING within half a second. */
  async ping(): Promise<boolean> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 500,
      commandTimeout: 500,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** Kills redis-server (its data goes with it) and waits until nothing listens on the port. */
  async kill(): Promise<void> {
    const guard = this.guard;
    if (!guard) return;
    const exited = new Promise<void>((resolve) => guard.once('exit', () => resolve()));
    this.signal('SIGCONT'); // a stopped (SIGSTOP) server must die too
    this.signal('SIGKILL');
    guard.stdin?.end(); // the guard then kills again (a no-op) and exits
    await exited;
    await eventually(async () => !(await listening(this.port)), 5000, 50);
  }

  /** A connection of the test's own (the caller disconnects it); never throws on an outage. */
  connect(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1, commandTimeout: 1000 });
    client.on('error', () => {});
    return client;
  }

  /** Runs one command on a short-lived connection. */
  async command(...args: [string, ...(string | number)[]]): Promise<unknown> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
    client.on('error', () => {});
    try {
      return await client.call(...args);
    } finally {
      client.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.kill();
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.serverPid === undefined) return;
    try {
      process.kill(this.serverPid, signal);
    } catch {
      // already gone
    }
  }
}
