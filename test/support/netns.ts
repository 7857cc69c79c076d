import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { required } from './backends.js';
import { MESHKIT_BIN, type Proc } from './processes.js';

/**
 * Several "hosts" on one machine: Linux network namespaces joined by a bridge, each with its
 * own address in a private test subnet, so processes really talk over a network that the test
 * can cut. Needs root and iproute2; every name carries a random id, so a leftover from a
 * crashed run never collides with the next one.
 */

const exec = promisify(execFile);

/** Runs `ip <args>`; a failure names the command and carries ip's own message. */
export async function ip(...args: string[]): Promise<string> {
  try {
    return (await exec('ip', args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || String(err)}`);
  }
}

async function works(command: string, args: string[]): Promise<boolean> {
  try {
    await exec(command, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why namespaces cannot be used here, or undefined when they can (tries one namespace and one bridge). */
async function missingCapability(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!(await works('ip', ['-V']))) return '`ip` (iproute2) is not installed';
  if (!(await works('redis-server', ['--version']))) return '`redis-server` is not installed';
  const probe = `mk${randomBytes(2).toString('hex')}`;
  try {
    await ip('netns', 'add', `${probe}-probe`);
    await ip('link', 'add', `${probe}br`, 'type', 'bridge');
    return undefined;
  } catch (err) {
    return `cannot create a namespace and a bridge: ${(err as Error).message}`;
  } finally {
    await ip('link', 'del', `${probe}br`).catch(() => undefined);
    await ip('netns', 'del', `${probe}-probe`).catch(() => undefined);
  }
}

/**
 * Use as `describe.runIf(await netnsUp())(...)`: true when this process may build namespaces;
 * otherwise warns and skips, or under CI (`CI=true`) throws so the suite fails.
 */
export async function netnsUp(): Promise<boolean> {
  const missing = await missingCapability();
  if (missing && required) throw new Error(`multi-host suites: ${missing}, and CI requires them`);
  if (missing) console.warn(`skipping multi-host suites: ${missing}`);
  return !missing;
}

/** One simulated host: its namespace, its address, and the root-side end of its link. */
export interface NetHost {
  name: string;
  namespace: string;
  address: string;
  /** The veth end on the bridge, in the root namespace: setting it down cuts the host off. */
  link: string;
}

/**
 * A bridge in the root namespace (which gets `.254`, so the test process reaches every host)
 * and one namespace per host, each plugged into the bridge by a veth pair.
 */
export class TestNetwork {
  readonly id: string;
  readonly bridge: string;
  private subnetPrefix = '';
  private readonly hosts = new Map<string, NetHost>();
  private readonly procs = new Set<{ child: ChildProcess; exited: Promise<number | string> }>();
  /** Undo steps for what exists so far, run in reverse by `down()`. */
  private readonly undo: (() => Promise<unknown>)[] = [];

  /** `octets` maps each host's name (lowercase letters, ≤ 5) to the last octet of its address. */
  constructor(private readonly octets: Record<string, number>) {
    this.id = randomBytes(2).toString('hex');
    this.bridge = `mkbr${this.id}`;
    for (const [name, octet] of Object.entries(octets)) {
      if (!/^[a-z]{1,5}$/.test(name)) throw new Error(`host name ${name} must be 1–5 lowercase letters`);
      if (!Number.isInteger(octet) || octet < 1 || octet > 253) throw new Error(`host ${name}: octet ${octet} not in 1–253`);
    }
  }

  /** The address of the root namespace on the bridge. */
  get rootAddress(): string {
    return `${this.subnetPrefix}.254`;
  }

  /** The /24 this network uses, e.g. `10.213.57.0/24`. */
  get subnet(): string {
    return `${this.subnetPrefix}.0/24`;
  }

  host(name: string): NetHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} in network ${this.id}`);
    return host;
  }

  /** Builds the bridge and every namespace. Call `down()` afterwards even when this throws. */
  async up(): Promise<void> {
    this.subnetPrefix = await unusedSubnet();
    const taken = (await ip('-o', 'link')) + (await ip('netns', 'list'));
    if (taken.includes(`mk${this.id}`) || taken.includes(this.bridge)) throw new Error(`test network id ${this.id} is taken`);

    await ip('link', 'add', this.bridge, 'type', 'bridge');
    this.undo.push(() => ip('link', 'del', this.bridge));
    await ip('addr', 'add', `${this.rootAddress}/24`, 'dev', this.bridge);
    await ip('link', 'set', this.bridge, 'up');

    for (const [name, octet] of Object.entries(this.octets)) {
      const host: NetHost = {
        name,
        namespace: `mk${this.id}-${name}`,
        address: `${this.subnetPrefix}.${octet}`,
        link: `mk${this.id}${name}`, // ≤ 11 characters: interface names stop at 15
      };
      await ip('netns', 'add', host.namespace);
      this.undo.push(() => ip('netns', 'del', host.namespace));
      // The peer is born inside the namespace, so it can be called eth0 like on a real host.
      await ip('link', 'add', host.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
      this.undo.push(() => ip('link', 'del', host.link));
      await ip('link', 'set', host.link, 'master', this.bridge, 'up');
      await ip('-n', host.namespace, 'link', 'set', 'lo', 'up');
      await ip('-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      await ip('-n', host.namespace, 'link', 'set', 'eth0', 'up');
      this.hosts.set(name, host);
    }
  }

  /** Takes the host's link down: packets to and from it are dropped, its processes keep running. */
  async cut(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).link, 'down');
  }

  async restore(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).link, 'up');
  }

  /** Runs `command` inside the host's namespace (`ip netns exec` execs it: the pid is the command's). */
  run(name: string, command: string, args: string[], env: Record<string, string> = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', this.host(name).namespace, command, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
      child.on('error', (err) => {
        out += String(err);
        resolve(-1);
      });
    });
    const entry = { child, exited };
    this.procs.add(entry);
    void exited.then(() => this.procs.delete(entry));
    return { child, output: () => out, exited };
  }

  /** Runs the built `meshkit <args>` inside the host's namespace. */
  meshkit(name: string, args: string[], env: Record<string, string>): Proc {
    return this.run(name, process.execPath, [MESHKIT_BIN, ...args], { LOG_LEVEL: 'warn', ...env });
  }

  /**
   * Stops every process it started (SIGTERM, SIGKILL after `graceMs`), then deletes the veths,
   * namespaces and bridge. Tries every step; throws at the end if any failed.
   */
  async down(graceMs = 3000): Promise<void> {
    const running = [...this.procs];
    for (const p of running) p.child.kill('SIGTERM');
    await Promise.all(
      running.map(async (p) => {
        const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    const failures: string[] = [];
    for (const step of this.undo.splice(0).reverse()) {
      await step().catch((err: Error) => {
        // Deleting one end of a veth deletes both; a pair gone with its namespace is no failure.
        if (!/Cannot find device|does not exist/.test(err.message)) failures.push(err.message);
      });
    }
    this.hosts.clear();
    if (failures.length) throw new Error(`test network ${this.id} not fully removed:\n${failures.join('\n')}`);
  }
}

/** A random 10.213.x prefix that no interface or route of this machine uses yet. */
async function unusedSubnet(): Promise<string> {
  const used = (await ip('-o', '-4', 'addr')) + (await ip('-4', 'route'));
  for (let tries = 0; tries < 50; tries++) {
    const prefix = `10.213.${randomInt(0, 256)}`;
    if (!used.includes(`${prefix}.`)) return prefix;
  }
  throw new Error('no free 10.213.x.0/24 subnet for the test network');
}
