import type { WriteStream } from 'node:fs';
import { request } from 'undici';
import { eventually } from '../support/processes.js';
import { isMeshkitAlive, MeshProcess, notePid } from './mesh-process.js';

/** One instance as the gateway's `GET /registry` shows it. */
export interface RegisteredInstance {
  id: string;
  host: string;
  port: number;
  status: string;
  circuit: 'closed' | 'open' | 'half-open' | string;
  in_flight: number;
  ejected: boolean;
  ejections: number;
  meta: { pid?: string };
}

export interface RegistryView {
  services: { name: string; instances: RegisteredInstance[] }[];
}

export const PRODUCT_SERVICE = 'product-service';

export function instancesOf(view: RegistryView, service: string): RegisteredInstance[] {
  return view.services.find((s) => s.name === service)?.instances ?? [];
}

export function pidOf(instance: RegisteredInstance): number {
  return Number(instance.meta.pid);
}

/** A gateway's view of the mesh. */
export async function registryAt(gatewayUrl: string): Promise<RegistryView> {
  const res = await request(new URL('/registry', gatewayUrl), { headersTimeout: 2000, bodyTimeout: 2000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /registry answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as RegistryView;
}

/**
 * `meshkit cluster` under test: the supervisor and its children, with each child's current pid
 * by label (`products#2`), kept from the table it prints and from its restart notices.
 */
export class ChaosCluster {
  private readonly pids = new Map<string, number>();

  private constructor(
    readonly proc: MeshProcess,
    readonly url: string,
  ) {}

  /** Starts `meshkit cluster --replicas <replicas>` and waits for its table and its registrations. */
  static async start(options: {
    replicas: string;
    env: Record<string, string>;
    gatewayPort: number;
    /** Instances expected per service before it counts as up. */
    expected: Record<string, number>;
    onLine(line: string): void;
    log?: WriteStream;
  }): Promise<ChaosCluster> {
    let cluster: ChaosCluster | undefined;
    const proc = new MeshProcess(
      ['cluster', '--replicas', options.replicas],
      { ...options.env, GATEWAY_PORT: String(options.gatewayPort) },
      {
        name: 'cluster',
        log: options.log,
        onLine(line) {
          options.onLine(line);
          cluster?.notice(line);
        },
      },
    );
    cluster = new ChaosCluster(proc, `http://127.0.0.1:${options.gatewayPort}`);
    try {
      await proc.waitFor(/^meshkit cluster: \d+ processes up$/, 60_000);
      const children = 1 + Object.values(options.expected).reduce((a, b) => a + b, 0);
      await eventually(() => cluster.pids.size === children, 5000, 20);
      await eventually(async () => {
        const view = await cluster.registry();
        return Object.entries(options.expected).every(([name, n]) => instancesOf(view, name).length === n);
      }, 20_000);
    } catch (err) {
      await proc.stop(5000);
      throw new Error(`the cluster did not come up: ${String(err)}\n${proc.tail()}`);
    }
    return cluster;
  }

  /** The current pid of a child, by label (`products#1`). */
  pid(label: string): number {
    const pid = this.pids.get(label);
    if (pid === undefined) throw new Error(`no child ${label}`);
    return pid;
  }

  labels(prefix: string): string[] {
    return [...this.pids.keys()].filter((l) => l.startsWith(prefix)).sort();
  }

  registry(): Promise<RegistryView> {
    return registryAt(this.url);
  }

  async products(): Promise<RegisteredInstance[]> {
    return instancesOf(await this.registry(), PRODUCT_SERVICE);
  }

  /** Stops restarts for a while: SIGSTOP on the supervisor (its children keep running). */
  pauseSupervisor(): void {
    this.proc.signal('SIGSTOP');
  }

  resumeSupervisor(): void {
    this.proc.signal('SIGCONT');
  }

  /**
   * Resolves with the pid the supervisor restarted `label` under once `oldPid` exited: from its
   * notice `<label> restarted: pid <n> at <url>` (printed once the new child registered).
   */
  async restarted(label: string, oldPid: number, timeoutMs = 20_000): Promise<number> {
    return eventually(() => {
      const pid = this.pids.get(label);
      return pid !== undefined && pid !== oldPid ? pid : undefined;
    }, timeoutMs, 20);
  }

  /** Graceful stop (SIGTERM to the supervisor, which stops every child); SIGKILL past the timeout. */
  async stop(): Promise<void> {
    for (const pid of this.pids.values()) if (isMeshkitAlive(pid)) process.kill(pid, 'SIGCONT');
    await this.proc.stop(40_000);
  }

  /** Children's pids from the table (`products  2  1234  http://…`) and from the restart notices. */
  private notice(line: string): void {
    const row = /^(gateway|users|products|orders) +(\d+) +(\d+) +(?:http\S+|-)$/.exec(line);
    if (row) return this.note(`${row[1]}#${row[2]}`, Number(row[3]));
    const restart = /^meshkit: (\S+#\d+) restarted: pid (\d+) at /.exec(line);
    if (restart) this.note(restart[1] ?? '', Number(restart[2]));
  }

  private note(label: string, pid: number): void {
    this.pids.set(label, pid);
    notePid(pid);
  }
}
