const ROUNDS = 30;
const TICKS_PER_ROUND = 1000;

let warmedUp: Promise<void> | undefined;

/**
 * Calls `process.nextTick` 90,000 times (with no, one and two arguments) across 30 turns of the
 * event loop, once per process, as it starts (bin/meshkit.js, before anything else loads; the
 * parts await it before serving). Why: Node 20's `nextTick` builds each tick object with computed
 * (symbol) keys, and in some processes V8 ends up defining them through its runtime for the life
 * of the process: callgrind shows `Runtime_DefineKeyedOwnPropertyInLiteral` called 36 times per
 * proxied request from `nextTick` and map migrations beside it, ~50k instructions (~20 %) more per
 * request in the gateway. Without this, 7 of 16 gateway processes measured on 2026-11-30 landed
 * in that state; warmed up first, 0 of 23 did (bench/tools/instructions.sh). Why the warm-up
 * prevents it is not understood; costs ~30 ms once. `nextTick`: a test passes one that counts
 * its calls.
 */
export function warmUpNextTick(nextTick: typeof process.nextTick = process.nextTick): Promise<void> {
  warmedUp ??= new Promise<void>((resolve) => {
    const noop = (_a?: number, _b?: number) => {};
    let round = 0;
    const turn = () => {
      for (let i = 0; i < TICKS_PER_ROUND; i++) {
        nextTick(noop);
        nextTick(noop, i);
        nextTick(noop, i, round);
      }
      round += 1;
      if (round < ROUNDS) setImmediate(turn);
      else setImmediate(resolve);
    };
    turn();
  });
  return warmedUp;
}
