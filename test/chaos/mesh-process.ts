import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { MESHKIT_BIN } from '../support/processes.js';

/** Lines kept per process for waits and failure messages (request logs are not kept: too many). */
const KEPT_LINES = 2000;

/** Every meshkit pid any process here announced or ran: what the cleanup may kill. */
const knownPids = new Set<number>();
const running = new Set<MeshProcess>();

export interface MeshProcessOptions {
  /** Names the process in the log file and in errors. */
  name: string;
  /** Sees every output line (stdout and stderr), request logs included. */
  onLine?(line: string): void;
  /** Where the lines that are not request logs are copied. */
  log?: WriteStream;
}

/** A request log line (`incoming request`, `request completed`): counted, never kept. */
function isRequestLog(line: string): boolean {
  return line.includes('"msg":"request completed"') || line.includes('"msg":"incoming request"');
}

/**
 * `node apps/cli/bin/meshkit.js <args>` as a real OS process, its output read line by line: kept
 * (but for request logs) for `waitFor`, handed to `onLine`, copied to a log file.
 */
export class MeshProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | string>;
  private readonly kept: string[] = [];
  private readonly waiters = new Set<{ pattern: RegExp; resolve(m: RegExpExecArray): void }>();

  constructor(
    args: string[],
    env: Record<string, string>,
    private readonly options: MeshProcessOptions,
  ) {
    this.child = spawn(process.execPath, [MESHKIT_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid !== undefined) knownPids.add(this.child.pid);
    running.add(this);
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.line(line));
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        resolve(code ?? signal ?? -1);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get name(): string {
    return this.options.name;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines (request logs left out), for a failure message. */
  tail(n = 40): string {
    return this.kept.slice(-n).join('\n');
  }

  /** Resolves with the first kept line matching, past or future; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    for (const line of this.kept) {
      const m = pattern.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (m: RegExpExecArray) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  signal(signal: NodeJS.Signals): void {
    signalPid(this.pid, signal);
  }

  /** SIGCONT (it may be paused), SIGTERM, and SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<number | string> {
    if (!this.alive) return this.exited;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private line(line: string): void {
    this.options.onLine?.(line);
    if (isRequestLog(line)) return;
    const log = this.options.log;
    if (log?.writable) log.write(`${this.options.name} ${line}\n`); // not once the file is closed
    this.kept.push(line);
    if (this.kept.length > KEPT_LINES) this.kept.splice(0, this.kept.length - KEPT_LINES);
    for (const waiter of [...this.waiters]) {
      const m = waiter.pattern.exec(line);
      if (m) waiter.resolve(m);
    }
  }
}

/** Remembers a pid some process announced (a cluster child), so the cleanup can kill it. */
export function notePid(pid: number): void {
  knownPids.add(pid);
}

export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A live meshkit process (not a zombie, and not a recycled pid running something else). */
export function isMeshkitAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) [ZX]/.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('meshkit');
  } catch {
    return false;
  }
}

/** Kills (SIGCONT first: a paused process must die too) every meshkit process this file started or saw. */
export function killEverything(): void {
  for (const proc of running) {
    proc.signal('SIGCONT');
    proc.signal('SIGKILL');
  }
  for (const pid of knownPids) {
    if (!isMeshkitAlive(pid)) continue;
    signalPid(pid, 'SIGCONT');
    signalPid(pid, 'SIGKILL');
  }
}

// Whatever way the test process ends, it leaves no meshkit process behind.
process.once('exit', killEverything);
