import { RoundRobinStrategy } from './round-robin.js';
import type { BalancerStrategy, Candidate, PickContext } from './strategy.js';

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so near keys spread out. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Ring {
  /** Candidate ids joined in list order: the set (and order) this ring was built for. */
  signature: string;
  /** Sorted ring positions. */
  points: Uint32Array;
  /** For each point, the index of its owner in the candidate list the ring was built from. */
  owners: Uint32Array;
}

export interface ConsistentHashOptions {
  /** Points per instance on the ring. Default 100. */
  virtualNodes?: number;
}

/**
 * A hash ring with virtual nodes over `ctx.key`: a key goes to the first point at or after its
 * hash. When an instance leaves only its own keys move. Without a key: round robin.
 */
export class ConsistentHashStrategy implements BalancerStrategy {
  readonly name = 'consistent_hash' as const;
  private readonly virtualNodes: number;
  private readonly fallback = new RoundRobinStrategy();
  private ring: Ring | undefined;

  constructor(options: ConsistentHashOptions = {}) {
    this.virtualNodes = Math.max(1, Math.floor(options.virtualNodes ?? 100));
  }

  pick(candidates: readonly Candidate[], ctx: PickContext = {}): Candidate {
    if (ctx.key === undefined || candidates.length === 1) return this.fallback.pick(candidates, ctx);
    const ring = this.ringFor(candidates);
    const owner = ring.owners[this.pointIndex(ring.points, hash32(ctx.key))] as number;
    return candidates[owner] as Candidate;
  }

  /** The first point at or after `h`, wrapping to the start of the ring. */
  private pointIndex(points: Uint32Array, h: number): number {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  /** The cached ring when the candidate list is unchanged, else a new one. */
  private ringFor(candidates: readonly Candidate[]): Ring {
    const signature = candidates.map((c) => c.instance.id).join('\n');
    if (this.ring?.signature === signature) return this.ring;
    const entries: { point: number; id: string; owner: number }[] = [];
    candidates.forEach((c, owner) => {
      for (let v = 0; v < this.virtualNodes; v++) {
        entries.push({ point: hash32(`${c.instance.id}#${v}`), id: c.instance.id, owner });
      }
    });
    // Ties between points are ordered by id, so the ring does not depend on the list order.
    entries.sort((a, b) => a.point - b.point || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ring = {
      signature,
      points: Uint32Array.from(entries, (e) => e.point),
      owners: Uint32Array.from(entries, (e) => e.owner),
    };
    return this.ring;
  }
}
