/**
 * A fixed log-scale latency histogram layout: bucket i holds (upper(i-1), upper(i)] ms with
 * upper(i) = 0.1 ms × 2^(i/4), so a percentile read back is within 19 % of the truth (less, with
 * the linear interpolation below); the last bucket takes everything above 60 s. Recording is one
 * logarithm and one increment, with no allocation.
 */

const MIN_MS = 0.1;
const STEPS_PER_DOUBLING = 4;
const LOG_RATIO = Math.LN2 / STEPS_PER_DOUBLING;
const MAX_MS = 60_000;

/** Buckets per histogram, the overflow bucket included. */
export const LATENCY_BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_RATIO) + 2;

/** The upper bound of bucket `i`, ms; Infinity for the overflow bucket. */
export function bucketUpperMs(i: number): number {
  return i >= LATENCY_BUCKETS - 1 ? Number.POSITIVE_INFINITY : MIN_MS * Math.exp(i * LOG_RATIO);
}

/** The bucket a duration falls in. Negative or NaN durations count as the fastest. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.ceil(Math.log(ms / MIN_MS) / LOG_RATIO - 1e-9);
  return i < LATENCY_BUCKETS - 1 ? i : LATENCY_BUCKETS - 1;
}

/**
 * The `q` quantile (0–1) of the durations counted in `counts` (LATENCY_BUCKETS long, `total` in
 * all), interpolated linearly inside its bucket; the overflow bucket reads as its lower bound.
 * Undefined when nothing was counted.
 */
export function quantileMs(counts: ArrayLike<number>, total: number, q: number): number | undefined {
  if (total <= 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && below + c >= rank) {
      const lower = i === 0 ? 0 : bucketUpperMs(i - 1);
      if (i === LATENCY_BUCKETS - 1) return lower;
      return lower + ((bucketUpperMs(i) - lower) * (rank - below)) / c;
    }
    below += c;
  }
  return bucketUpperMs(LATENCY_BUCKETS - 2);
}
