import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';

export interface StartOptions {
  /** What it is, for messages ("nginx", "meshkit gateway"). */
  name: string;
  /** argv, the pinning prefix included: ['taskset', '-c', '1', 'node', 'x.js']. */
  command: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * How to know it is up: 'stderr-ready' waits for a `READY <url>` line on its stderr (the bench's
   * own servers print one); 'none' returns at once (poll its port with `waitForHttp`).
   */
  ready: 'stderr-ready' | 'none';
  /** Where stdout goes: /dev/null (the default: access logs cost what writing them costs, nothing more). */
  stdout?: 'null' | 'inherit';
  /** How long `ready` may take. Default 30 s. */
  timeoutMs?: number;
}

export interface Started {
  name: string;
  pid: number;
  /** From the `READY <url>` line, when there was one. */
  url: string;
  child: ChildProcess;
  /** The last lines it wrote to stderr, for error messages. */
  stderrTail(): string;
}

/**
 * Every process the bench starts, so that all of them are stopped at the end: on success, on an
 * error, on Ctrl-C or SIGTERM (each child runs in its own process group, so a Ctrl-C reaches only
 * the harness, which stops them in order), and — synchronously, with SIGKILL — on any exit.
 */
export class ProcessSet {
  private readonly running = new Set<Started>();

  async start(options: StartOptions): Promise<Started> {
    const [file, ...args] = options.command;
    if (file === undefined) throw new Error(`${options.name}: empty command`);
    const stdout = options.stdout === 'inherit' ? 'inherit' : openSync('/dev/null', 'w');
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', stdout, 'pipe'],
      detached: true,
    });
    const lines: string[] = [];
    let readyUrl: string | undefined;
    let onReady: ((url: string) => void) | undefined;
    let buffered = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (readyUrl === undefined && line.startsWith('READY ')) {
          readyUrl = line.slice('READY '.length).trim();
          onReady?.(readyUrl);
          continue;
        }
        lines.push(line);
        if (lines.length > 30) lines.shift();
      }
    });

    const started: Started = {
      name: options.name,
      pid: child.pid ?? -1,
      url: '',
      child,
      stderrTail: () => [...lines, buffered].filter(Boolean).join('\n'),
    };
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`${options.name}: could not start ${file}: ${err.message}`)));
    });
    await spawned;
    this.running.add(started);
    child.once('exit', () => this.running.delete(started));

    if (options.ready === 'none') return started;
    const timeoutMs = options.timeoutMs ?? 30_000;
    started.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${options.name} did not come up within ${timeoutMs} ms\n${started.stderrTail()}`));
      }, timeoutMs);
      const exited = (code: number | null, signal: string | null) => {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited (${signal ?? code}) before it was ready\n${started.stderrTail()}`));
      };
      child.once('exit', exited);
      onReady = (url) => {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(url);
      };
      if (readyUrl !== undefined) onReady(readyUrl);
    });
    return started;
  }

  /** Whether `p` is still running (it may have crashed under load). */
  alive(p: Started): boolean {
    return this.running.has(p);
  }

  /** SIGTERM to one, SIGKILL after `graceMs`; resolves once it is gone. */
  async stop(p: Started, graceMs = 5000): Promise<void> {
    if (!this.running.has(p)) return;
    const gone = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
    signalGroup(p.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(p.pid, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    // Whatever it left in its group (nginx's worker after its master) goes too.
    signalGroup(p.pid, 'SIGKILL');
  }

  /** Stops every process still running, the most recently started first. */
  async stopAll(graceMs = 5000): Promise<void> {
    for (const p of [...this.running].reverse()) await this.stop(p, graceMs);
  }

  /** For `process.on('exit')`: no waiting possible, so SIGKILL to every group still running. */
  killAllNow(): void {
    for (const p of this.running) signalGroup(p.pid, 'SIGKILL');
    this.running.clear();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Polls `url` until it answers `status` (and `check` accepts the body), or throws after `timeoutMs`. */
export async function waitForHttp(
  url: string,
  options: { timeoutMs?: number; name: string; check?: (body: string) => boolean; alive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (options.alive && !options.alive()) throw new Error(`${options.name} exited before answering ${url}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200 && (options.check?.(body) ?? true)) return;
      last = `${res.status} ${body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${options.name} did not answer ${url} with 200 in time (last: ${last})`);
}
