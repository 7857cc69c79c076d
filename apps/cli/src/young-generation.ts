import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * The size of V8's young generation in a meshkit process.
 *
 * A busy Node proxy grows the young generation to its maximum, two 16 MiB semi-spaces, and keeps
 * it: 32 MiB of the gateway's resident memory. Capped at two 4 MiB semi-spaces the gateway holds
 * 1,000 idle connections under load in ~20 MiB less for ~5 % more CPU per request (measured with
 * the bench, docs/performance.md "Memory"). `--max-semi-space-size` does that, but only as a flag
 * Node starts with, and `meshkit run gateway` is started by users, containers and `meshkit
 * cluster` alike. So the process steers instead, through the one V8 flag that still acts at run
 * time: the factor by which the young generation grows. It holds the young generation at its
 * initial size while modules load (growth then is import garbage, and no event-loop turn comes
 * between two growths to steer them), and once the part is serving, after every garbage
 * collection, lets it grow only while the next growth stays within the cap. A shrink (V8 shrinks
 * an idle process's young generation) is followed by growing again under load.
 *
 * Anyone who sets the young generation's size themselves (`--max-semi-space-size` and its kin in
 * `NODE_OPTIONS` or on node's command line) is left alone: then nothing here touches V8.
 */

const MiB = 1024 * 1024;

/** V8's own growth factor of the young generation (`--semi-space-growth-factor`). */
export const V8_DEFAULT_GROWTH_FACTOR = 2;

/** The semi-space a gateway-only process keeps, as `--max-semi-space-size=4` would. */
export const GATEWAY_SEMI_SPACE_MIB = 4;

/** What of V8 the steering uses; a fake stands in for it in unit tests. */
export interface YoungGenerationHeap {
  /** Bytes the young generation spans now: both semi-spaces. */
  capacity(): number;
  setGrowthFactor(factor: number): void;
  /** Calls `listener` after every garbage collection, from the event loop. */
  afterEachGc(listener: () => void): void;
}

export const v8Heap: YoungGenerationHeap = {
  capacity() {
    return v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
  },
  setGrowthFactor(factor) {
    v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  },
  afterEachGc(listener) {
    new PerformanceObserver(listener).observe({ entryTypes: ['gc'] });
  },
};

const USER_SIZING = /--(?:(?:max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)\b/;

/** Whether node was started with a young-generation size of the user's choosing. */
export function sizedByUser(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return execArgv.some((arg) => USER_SIZING.test(arg)) || USER_SIZING.test(nodeOptions ?? '');
}

export class YoungGeneration {
  private factor: number | undefined;
  private steering = false;

  constructor(
    private readonly heap: YoungGenerationHeap,
    /** True: the user sized it; every method does nothing. */
    private readonly leftToUser: boolean,
  ) {}

  /** Keeps the young generation at its present size: while modules load. */
  hold(): void {
    this.setFactor(1);
  }

  /** Gives the sizing back to V8 (a process that is not only a gateway). */
  release(): void {
    this.setFactor(V8_DEFAULT_GROWTH_FACTOR);
  }

  /** From now on, grows the young generation as V8 would, but never past two `semiSpaceMiB` semi-spaces. */
  cap(semiSpaceMiB: number): void {
    if (!Number.isInteger(semiSpaceMiB) || semiSpaceMiB < 1) {
      throw new RangeError(`semi-space cap must be a whole number of MiB, at least 1: ${semiSpaceMiB}`);
    }
    if (this.leftToUser || this.steering) return;
    this.steering = true;
    const limit = 2 * semiSpaceMiB * MiB;
    // V8 grows to factor × capacity: the largest whole factor that stays within the limit; 1 stops it.
    const steer = () => {
      const fits = Math.floor(limit / this.heap.capacity());
      this.setFactor(Math.max(1, Math.min(V8_DEFAULT_GROWTH_FACTOR, fits)));
    };
    steer();
    this.heap.afterEachGc(steer);
  }

  private setFactor(factor: number): void {
    if (this.leftToUser || factor === this.factor) return;
    this.factor = factor;
    this.heap.setGrowthFactor(factor);
  }
}

/** This process's young generation: the bin holds it before loading anything, a part caps or releases it. */
export const youngGeneration = new YoungGeneration(v8Heap, sizedByUser(process.execArgv, process.env.NODE_OPTIONS));
