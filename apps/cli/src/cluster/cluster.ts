import { fileURLToPath } from 'node:url';
import type { PartName } from '../parts.js';
import { clusterServices, type Replicas } from './replicas.js';
import { type ChildSpec, type ChildView, exitDescription, Supervisor, type SupervisorEvent } from './supervisor.js';

/** The committed launcher (it imports the built dist/); each child runs `node <bin> run <part>`. */
export const MESHKIT_BIN = fileURLToPath(new URL('../../bin/meshkit.js', import.meta.url));

/** Stop order: the gateway first (no new traffic), then orders (it calls the others), then the rest. */
const STOP_WAVES: Record<PartName, number> = { gateway: 0, orders: 1, users: 2, products: 2 };

/**
 * One gateway on GATEWAY_PORT and `replicas[s]` instances of each service on free ports
 * (`PORT=0`), every child with the given environment.
 */
export function clusterSpecs(replicas: Replicas, env: NodeJS.ProcessEnv, bin: string = MESHKIT_BIN): ChildSpec[] {
  const spec = (part: PartName, n: number, extra: NodeJS.ProcessEnv): ChildSpec => ({
    label: `${part}#${n}`,
    command: process.execPath,
    args: [bin, 'run', part],
    env: { ...env, ...extra },
    stopWave: STOP_WAVES[part],
    urlFrom: (line) => announcedUrl(part, line),
  });
  return [
    spec('gateway', 1, {}),
    ...clusterServices.flatMap((s) => Array.from({ length: replicas[s] }, (_, i) => spec(s, i + 1, { PORT: '0' }))),
  ];
}

/** `meshkit run` prints `<part> <url>` once the part is up; anything else is not the announcement. */
export function announcedUrl(part: string, line: string): string | undefined {
  const match = /^(\S+)\s+(https?:\/\/\S+)$/.exec(line.trim());
  return match && match[1] === part ? match[2] : undefined;
}

/** The cluster as a table: service, replica, pid, url. */
export function formatClusterTable(children: ChildView[]): string {
  const header = ['SERVICE', 'REPLICA', 'PID', 'URL'];
  const rows = children.map((c) => {
    const [service = c.label, replica = ''] = c.label.split('#');
    return [service, replica, String(c.pid ?? '-'), c.url ?? '-'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** How the supervisor reports what happened to a child, one line each. */
export function describeEvent(event: SupervisorEvent): string | undefined {
  switch (event.type) {
    case 'exited':
      return `${event.label} (pid ${event.pid ?? '?'}) ${exitDescription(event.code, event.signal)}; restarting in ${event.restartInMs} ms`;
    case 'up':
      return event.restarts > 0 ? `${event.label} restarted: pid ${event.pid} at ${event.url}` : undefined;
    case 'spawn-error':
      return `${event.label} could not be started: ${event.error.message}`;
  }
}

export interface ClusterOptions {
  env?: NodeJS.ProcessEnv;
  bin?: string;
  /** How long each child may take to stop before SIGKILL. Default 15 s. */
  stopTimeoutMs?: number;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs the cluster until a signal: starts every child, prints the table once all are up, restarts
 * children that exit, and on SIGINT/SIGTERM/SIGHUP stops them all and exits 0 (1 when one had to
 * be killed). A second signal kills every child at once and exits 1.
 */
export async function runCluster(replicas: Replicas, options: ClusterOptions = {}): Promise<void> {
  const specs = clusterSpecs(replicas, options.env ?? process.env, options.bin);
  const width = Math.max(...specs.map((s) => s.label.length));
  const notice = (line: string) => console.error(`meshkit: ${line}`);
  const supervisor = new Supervisor(specs, {
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
    onLine(label, stream, line) {
      process[stream].write(`${label.padEnd(width)} | ${line}\n`);
    },
    onEvent(event) {
      const line = describeEvent(event);
      if (line) notice(line);
    },
  });

  let stopping = false;
  const stop = async (reason: string, code: number) => {
    stopping = true;
    notice(`${reason}: stopping the cluster (a second Ctrl-C kills it at once)`);
    const forced = await supervisor.stop().catch((err: unknown) => {
      notice(`stop failed: ${err instanceof Error ? err.message : String(err)}`);
      return ['?'];
    });
    if (forced.length > 0) notice(`${forced.join(', ')} did not stop in time and was killed`);
    process.exit(forced.length > 0 ? 1 : code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      void stop(signal, 0);
      return;
    }
    notice(`${signal} again: killing every process now`);
    setTimeout(() => process.exit(1), 2000).unref(); // SIGKILL is immediate; this is only a backstop
    void supervisor.kill().finally(() => process.exit(1));
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);

  try {
    await supervisor.start();
  } catch (err) {
    if (stopping) return; // a signal is already stopping the cluster
    await stop(err instanceof Error ? err.message : String(err), 1);
    return;
  }
  console.log(`meshkit cluster: ${specs.length} processes up`);
  console.log(formatClusterTable(supervisor.children()));
}
