import { afterEach, describe, expect, it, vi } from 'vitest';
import { onShutdownSignals } from './shutdown.js';

const removers: (() => void)[] = [];
afterEach(() => {
  for (const remove of removers.splice(0)) remove();
  vi.restoreAllMocks();
});

/** process.exit, recorded instead of ending the test process. */
function recordExits(): number[] {
  const codes: number[] = [];
  vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
    codes.push(code ?? 0);
  }) as typeof process.exit);
  return codes;
}

const tick = (ms = 10) => new Promise((r) => setTimeout(r, ms));

describe('onShutdownSignals', () => {
  it('stops once on SIGTERM, then exits 0', async () => {
    const exits = recordExits();
    let stops = 0;
    removers.push(onShutdownSignals(async () => void (stops += 1)));
    process.emit('SIGTERM');
    await tick();
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it('exits 1 on a second signal while stopping', async () => {
    const exits = recordExits();
    let finish!: () => void;
    const stop = vi.fn(() => new Promise<void>((r) => (finish = r)));
    removers.push(onShutdownSignals(stop));
    process.emit('SIGINT');
    process.emit('SIGTERM');
    expect(stop).toHaveBeenCalledTimes(1);
    expect(exits).toEqual([1]);
    finish();
    await tick();
  });

  it('exits 1 when the stop outlasts the timeout, or fails', async () => {
    const exits = recordExits();
    const remove = onShutdownSignals(() => new Promise<void>(() => {}), { timeoutMs: 30 });
    process.emit('SIGTERM');
    await tick(100);
    expect(exits).toEqual([1]);
    remove();

    removers.push(onShutdownSignals(async () => Promise.reject(new Error('close failed'))));
    process.emit('SIGTERM');
    await tick();
    expect(exits).toEqual([1, 1]);
  });

  it('removes its handlers', () => {
    const count = () => [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    const [term = 0, int = 0] = count();
    const remove = onShutdownSignals(async () => {});
    expect(count()).toEqual([term + 1, int + 1]);
    remove();
    expect(count()).toEqual([term, int]);
  });
});
