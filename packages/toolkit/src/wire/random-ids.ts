import { randomFillSync } from 'node:crypto';

/**
 * The random ids made for every request (request ids, new trace contexts): bytes drawn from the
 * CSPRNG 4 KiB at a time, written as hex digits into a fixed template and read back as one flat
 * string. `crypto.randomUUID()` joins 20 pieces per id, and two `toString('hex')` calls, two
 * regular expressions and a template made a traceparent; this is about half the instructions.
 */
const POOL = Buffer.alloc(4096);
let offset = POOL.length;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Where `n` fresh random bytes start in POOL; they are this caller's until its next call. */
function draw(n: number): number {
  if (offset + n > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

/** Writes POOL's `n` bytes from `from` as hex into `into` at `at`; whether any was non-zero. */
function hexInto(into: Buffer, at: number, from: number, n: number): boolean {
  let any = 0;
  for (let i = 0; i < n; i++) {
    const b = POOL[from + i] as number;
    any |= b;
    into[at + 2 * i] = HEX[b >> 4] as number;
    into[at + 2 * i + 1] = HEX[b & 15] as number;
  }
  return any !== 0;
}

const UUID = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');

/** A random UUID (version 4, RFC 9562), as `crypto.randomUUID()` makes. */
export function randomUuid(): string {
  const r = draw(16);
  POOL[r + 6] = ((POOL[r + 6] as number) & 0x0f) | 0x40;
  POOL[r + 8] = ((POOL[r + 8] as number) & 0x3f) | 0x80;
  hexInto(UUID, 0, r, 4);
  hexInto(UUID, 9, r + 4, 2);
  hexInto(UUID, 14, r + 6, 2);
  hexInto(UUID, 19, r + 8, 2);
  hexInto(UUID, 24, r + 10, 6);
  return UUID.toString('latin1');
}

const TRACEPARENT = Buffer.from(`00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`, 'latin1');
const ONE = 0x31;

/** A new sampled W3C trace context: `00-<32 hex trace id>-<16 hex parent id>-01`, neither id all zeros. */
export function randomTraceparent(): string {
  const r = draw(24);
  // An all-zero id is invalid; the chance is 2^-128 (2^-64), but the fix costs one comparison.
  if (!hexInto(TRACEPARENT, 3, r, 16)) TRACEPARENT[34] = ONE;
  if (!hexInto(TRACEPARENT, 36, r + 16, 8)) TRACEPARENT[51] = ONE;
  return TRACEPARENT.toString('latin1');
}
