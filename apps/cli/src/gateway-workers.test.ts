import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { describeWorkerEvent, type GatewayWorkerEvent, GatewayWorkers, type WorkerProcess } from './gateway-workers.js';

type Behaviour = 'ok' | 'fail-at-start' | 'ignore-stop' | 'never-up';

/** A worker without a process: comes up on its own after a tick, exits when told, as `meshkit run gateway` does. */
class FakeWorker implements WorkerProcess {
  private readonly events = new EventEmitter();
  readonly received: unknown[] = [];
  readonly signals: NodeJS.Signals[] = [];
  private gone = false;

  constructor(
    readonly pid: number,
    private readonly behaviour: Behaviour,
  ) {
    setTimeout(() => {
      if (behaviour === 'fail-at-start') this.exit(1, null);
      else if (!this.gone && behaviour !== 'never-up') this.events.emit('message', { meshkit: 'gateway-up', url: 'http://127.0.0.1:8000' });
    }, 5);
  }

  send(message: unknown): boolean {
    if (this.gone) return false;
    this.received.push(message);
    if (this.behaviour !== 'ignore-stop') setTimeout(() => this.exit(0, null), 5);
    return true;
  }
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    setTimeout(() => this.exit(null, signal), 1);
  }
  onMessage(listener: (message: unknown) => void): void {
    this.events.on('message', listener);
  }
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.events.on('exit', listener);
  }
  /** What a crash, or a graceful end, looks like to the primary. */
  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.gone) return;
    this.gone = true;
    this.events.emit('exit', code, signal);
  }
}

async function until(probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const running: GatewayWorkers[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

function workers(count: number, behaviours: Behaviour[] = [], options: { stopTimeoutMs?: number } = {}) {
  const forked: FakeWorker[] = [];
  const events: GatewayWorkerEvent[] = [];
  const group = new GatewayWorkers({
    count,
    backoff: { initialMs: 20, maxMs: 100 },
    ...options,
    fork: () => {
      const worker = new FakeWorker(1000 + forked.length, behaviours[forked.length] ?? 'ok');
      forked.push(worker);
      return worker;
    },
    onEvent: (e) => events.push(e),
  });
  running.push(group);
  return { group, forked, events };
}

describe('GatewayWorkers', () => {
  it('starts every worker and resolves with the URL once all are up', async () => {
    const { group, forked } = workers(3);
    expect(await group.start()).toBe('http://127.0.0.1:8000');
    expect(forked).toHaveLength(3);
    expect(group.workers().map((w) => [w.worker, w.pid, w.restarts])).toEqual([
      [1, 1000, 0],
      [2, 1001, 0],
      [3, 1002, 0],
    ]);
  });

  it('replaces a worker that dies, after the backoff, in the same slot', async () => {
    const { group, forked, events } = workers(2);
    await group.start();
    forked[1]?.exit(null, 'SIGKILL');
    await until(() => group.workers()[1]?.url !== undefined && forked.length === 3);
    expect(group.workers()[1]).toMatchObject({ worker: 2, pid: 1002, restarts: 1 });
    expect(events.map(describeWorkerEvent).filter(Boolean)).toEqual([
      'gateway worker 2 (pid 1001) was killed by SIGKILL; restarting in 20 ms',
      'gateway worker 2 restarted: pid 1002',
    ]);
  });

  it('fails the start when a worker exits before it was up, instead of looping', async () => {
    const { group, forked } = workers(2, ['ok', 'fail-at-start']);
    await expect(group.start()).rejects.toThrow('gateway worker 2 exited with code 1 before it was up');
    expect(await group.stop()).toEqual([]);
    expect(forked).toHaveLength(2);
    expect(forked[0]?.received).toEqual([{ meshkit: 'gateway-stop' }]);
  });

  it('stops every worker through the channel, and kills one that does not stop in time', async () => {
    const { group, forked } = workers(2, ['ok', 'ignore-stop'], { stopTimeoutMs: 50 });
    await group.start();
    expect(await group.stop()).toEqual([2]);
    expect(forked.map((w) => w.received)).toEqual([[{ meshkit: 'gateway-stop' }], [{ meshkit: 'gateway-stop' }]]);
    expect(forked.map((w) => w.signals)).toEqual([[], ['SIGKILL']]);
    expect(group.workers().every((w) => w.pid === undefined)).toBe(true);
  });

  it('sends SIGTERM, not a message, to a worker still starting: it may not listen yet', async () => {
    const { group, forked } = workers(2, ['ok', 'never-up']);
    const starting = expect(group.start()).rejects.toThrow('stopped while starting');
    await until(() => group.workers()[0]?.url !== undefined);
    expect(await group.stop()).toEqual([]);
    await starting;
    expect(forked.map((w) => [w.received, w.signals])).toEqual([
      [[{ meshkit: 'gateway-stop' }], []],
      [[], ['SIGTERM']],
    ]);
  });

  it('does not replace workers once stopping', async () => {
    const { group, forked } = workers(1);
    await group.start();
    await group.stop();
    await new Promise((r) => setTimeout(r, 60)); // past the backoff a crash would have waited
    expect(forked).toHaveLength(1);
  });

  it('refuses a count below 1', () => {
    expect(() => new GatewayWorkers({ count: 0 })).toThrow(RangeError);
  });
});
