/** The median of the finite numbers in `values` (NaN when there are none). */
export function median(values: readonly number[]): number {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return Number.NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
}

/** Spread of `values` as (max − min) / median, for saying how noisy the rounds were. */
export function spread(values: readonly number[]): number {
  const xs = values.filter(Number.isFinite);
  if (xs.length < 2) return 0;
  return (Math.max(...xs) - Math.min(...xs)) / median(xs);
}
