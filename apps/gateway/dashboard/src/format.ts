/** Display helpers: a dash for "no data", fixed decimals otherwise. */

export const NONE = '—';

/** The last 8 characters: ids here are UUIDv7, whose first ones are a timestamp shared by ids made together. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}

export function fixed(value: number | null, digits: number): string {
  return value === null ? NONE : value.toFixed(digits);
}

export function percent(share: number | null): string {
  return share === null ? NONE : `${(share * 100).toFixed(1)}`;
}

export function clockTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
