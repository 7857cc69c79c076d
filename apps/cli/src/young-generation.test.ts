import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sizedByUser, V8_DEFAULT_GROWTH_FACTOR, YoungGeneration, type YoungGenerationHeap } from './young-generation.js';

const MiB = 1024 * 1024;

/** A young generation that grows as V8's does: to factor × capacity, at most 32 MiB, when told to collect. */
class FakeHeap implements YoungGenerationHeap {
  size = 1 * MiB;
  factor = V8_DEFAULT_GROWTH_FACTOR;
  readonly factorsSet: number[] = [];
  private readonly listeners: (() => void)[] = [];

  capacity() {
    return this.size;
  }
  setGrowthFactor(factor: number) {
    this.factor = factor;
    this.factorsSet.push(factor);
  }
  afterEachGc(listener: () => void) {
    this.listeners.push(listener);
  }
  /** A scavenge that decides to grow, then the observers (a turn of the event loop later). */
  growingGc() {
    this.size = Math.min(32 * MiB, this.factor * this.size);
    for (const listener of this.listeners) listener();
  }
  shrink() {
    this.size = 1 * MiB;
    for (const listener of this.listeners) listener();
  }
}

/** A young generation held while modules load, as the bin holds it, on a fake heap. */
function held(leftToUser = false): { heap: FakeHeap; young: YoungGeneration } {
  const heap = new FakeHeap();
  const young = new YoungGeneration(heap, leftToUser);
  young.hold();
  return { heap, young };
}

describe('YoungGeneration', () => {
  it('holds the size while modules load, then grows as V8 would up to the cap and stops there', () => {
    const { heap, young } = held();
    heap.growingGc();
    expect(heap.size).toBe(1 * MiB);

    young.cap(4); // two 4 MiB semi-spaces
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      heap.growingGc();
      sizes.push(heap.size / MiB);
    }
    expect(sizes).toEqual([2, 4, 8, 8, 8, 8]);
  });

  it('grows again after V8 shrinks an idle young generation', () => {
    const { heap, young } = held();
    young.cap(4);
    for (let i = 0; i < 5; i++) heap.growingGc();
    heap.shrink();
    expect(heap.size).toBe(1 * MiB);
    for (let i = 0; i < 5; i++) heap.growingGc();
    expect(heap.size).toBe(8 * MiB);
  });

  it('never passes a cap that is not a power of two', () => {
    const { heap, young } = held();
    young.cap(3);
    for (let i = 0; i < 6; i++) heap.growingGc();
    expect(heap.size).toBe(4 * MiB); // 8 would pass 2 × 3 MiB
  });

  it('gives the sizing back to V8 in a process that is not only a gateway', () => {
    const { heap, young } = held();
    young.release();
    for (let i = 0; i < 6; i++) heap.growingGc();
    expect(heap.size).toBe(32 * MiB);
    expect(heap.factorsSet).toEqual([1, V8_DEFAULT_GROWTH_FACTOR]);
  });

  it('touches nothing when the user sized the young generation', () => {
    const { heap, young } = held(true);
    young.cap(4);
    young.release();
    for (let i = 0; i < 6; i++) heap.growingGc();
    expect(heap.factorsSet).toEqual([]);
    expect(heap.size).toBe(32 * MiB);
  });

  it('refuses a cap that is not a whole number of MiB', () => {
    const young = new YoungGeneration(new FakeHeap(), false);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => young.cap(bad)).toThrow(RangeError);
  });
});

describe('sizedByUser', () => {
  it("sees the young generation's flags on node's command line and in NODE_OPTIONS, in either spelling", () => {
    expect(sizedByUser(['--max-semi-space-size=16'], undefined)).toBe(true);
    expect(sizedByUser(['--semi_space_growth_factor=4'], undefined)).toBe(true);
    expect(sizedByUser([], '--enable-source-maps --min-semi-space-size=2')).toBe(true);
    expect(sizedByUser([], '--max_semi_space_size=8')).toBe(true);
  });

  it('ignores every other flag', () => {
    expect(sizedByUser(['--enable-source-maps', '--max-old-space-size=512'], undefined)).toBe(false);
    expect(sizedByUser([], '--max-old-space-size=512 --import=./x.js')).toBe(false);
    expect(sizedByUser([], undefined)).toBe(false);
  });
});

/** Allocates in a child node (real V8), short-lived objects and survivors, over many event-loop turns. */
async function youngGenerationUnderLoad(mode: 'cap' | 'release'): Promise<{ max: number; last: number }> {
  const module = fileURLToPath(new URL('../dist/young-generation.js', import.meta.url));
  const script = `
    const { YoungGeneration, v8Heap } = await import(${JSON.stringify(module)});
    const young = new YoungGeneration(v8Heap, false);
    young.hold();
    ${mode === 'cap' ? 'young.cap(2);' : 'young.release();'}
    const ring = new Array(8192);
    let max = 0, n = 0;
    for (let turn = 0; turn < 400; turn++) {
      for (let i = 0; i < 5000; i++, n++) ring[n & 8191] = { n, text: 'item ' + n, list: [n, n + 1] };
      max = Math.max(max, v8Heap.capacity());
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(JSON.stringify({ max, last: v8Heap.capacity() }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '' },
  });
  return JSON.parse(stdout);
}

describe('YoungGeneration in V8', () => {
  it('keeps a busy process within the cap, grown to it', async () => {
    const { max, last } = await youngGenerationUnderLoad('cap');
    expect(max).toBeLessThanOrEqual(4 * MiB);
    expect(last).toBe(4 * MiB);
  });

  it('without the cap the same work grows it past that', async () => {
    const { max } = await youngGenerationUnderLoad('release');
    expect(max).toBeGreaterThan(4 * MiB);
  });
});
