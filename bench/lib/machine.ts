import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import type { Pin } from './scenario.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  loadAverage: string;
}

export function describeMachine(): Machine {
  let kernel = 'unknown';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    // not a Unix: the bench needs /proc anyway
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel,
    loadAverage: currentLoad(),
  };
}

/** The commit measured, and whether the tree had uncommitted changes (other work in progress). */
export function codeVersion(repoRoot: string): string {
  try {
    const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'apps', 'packages'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean).length;
    return dirty === 0 ? `commit ${commit}` : `commit ${commit} + uncommitted changes in ${dirty} files under apps/ and packages/`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function currentLoad(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Pinning {
  pin: Pin;
  /** One line for the results: what ran where. */
  description: string;
  pinned: boolean;
}

/**
 * Servers on core 1, load generator (and this harness) on core 0, when there are 2 cores or
 * more and taskset exists; otherwise nothing is pinned, and the results say so.
 */
export function choosePinning(disabled: boolean): Pinning {
  const cores = availableParallelism();
  if (disabled || cores < 2 || !hasTaskset()) {
    const why = disabled ? '--no-pin' : cores < 2 ? `only ${cores} core` : 'taskset is missing';
    return { pin: () => [], pinned: false, description: `nothing pinned (${why})` };
  }
  try {
    // This harness too (every thread: -a), so its own work stays off the servers' core.
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    // Not allowed (a restricted container): the children are still pinned.
  }
  return {
    pin: (role) => ['taskset', '-c', role === 'server' ? '1' : '0'],
    pinned: true,
    description:
      `servers on core 1 (every proxy, backend and broker process: \`taskset -c 1\`), load generator and ` +
      `harness on core 0 (\`taskset -c 0\`), of ${cores} cores; the NATS server is not pinned (it is shared, started outside the bench)`,
  };
}
