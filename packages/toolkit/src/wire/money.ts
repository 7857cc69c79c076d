/**
 * Money on the wire is a JSON number in currency units with at most 2 decimals (`999.99`);
 * inside, it is an integer number of cents so sums are exact.
 */

/** Cents for a wire amount, or undefined when it has more than 2 decimals or is not finite. */
export function toCents(amount: number): number | undefined {
  if (!Number.isFinite(amount)) return undefined;
  const cents = Math.round(amount * 100);
  // 0.1 * 100 is 10.000000000000002: allow float noise, refuse a real third decimal.
  if (Math.abs(amount * 100 - cents) > 1e-6 * Math.max(1, Math.abs(cents))) return undefined;
  return cents;
}

/** The wire amount for integer cents. */
export function fromCents(cents: number): number {
  return cents / 100;
}
