import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of V8's .cpuprofile (what `node --cpu-prof` writes) that are read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  /** `name file:line` — for meshkit's own code the TypeScript source and line, through the source maps. */
  key: string;
  functionName: string;
  /** Repo-relative (or node:, or a package path) location. */
  location: string;
  area: string;
  selfMs: number;
  totalMs: number;
  /** Of the busy time (every sample except idle). */
  selfPercent: number;
  totalPercent: number;
}

export interface ProfileSummary {
  durationMs: number;
  busyMs: number;
  idleMs: number;
  samples: number;
  functions: FunctionTime[];
  areas: { area: string; selfMs: number; selfPercent: number }[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * Self time (the samples that landed in the function itself) and total time (the samples with the
 * function anywhere on the stack, each counted once) per function, aggregated by name and
 * location; for files with a source map beside them (meshkit's dist/), the location is the
 * TypeScript source line.
 */
export function summariseProfile(
  profile: CpuProfile,
  repoRoot: string,
  /** Only the samples taken in this window (CLOCK_MONOTONIC µs, as `process.hrtime`): the load, not the start-up. */
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const mapper = new SourceMapper(repoRoot);
  const keyOf = new Map<number, FunctionTime>();
  const functions = new Map<string, FunctionTime>();
  for (const n of profile.nodes) {
    const { functionName, url, lineNumber, columnNumber } = n.callFrame;
    const name = functionName || (SPECIAL.has(functionName) ? functionName : '(anonymous)');
    const location = url === '' ? '' : mapper.locate(url, lineNumber, columnNumber);
    const key = location === '' ? name : `${name} ${location}`;
    let f = functions.get(key);
    if (!f) {
      f = { key, functionName: name, location, area: areaOf(name, url), selfMs: 0, totalMs: 0, selfPercent: 0, totalPercent: 0 };
      functions.set(key, f);
    }
    keyOf.set(n.id, f);
  }

  // Sample i lasts until sample i+1 (the way DevTools attributes it).
  const deltas = profile.timeDeltas;
  const meanDelta = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  let idleUs = 0;
  let totalUs = 0;
  let at = profile.startTime;
  let counted = 0;
  let firstUs = Number.POSITIVE_INFINITY;
  let lastUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    counted++;
    firstUs = Math.min(firstUs, at);
    lastUs = Math.max(lastUs, at);
    const dt = Math.max(0, deltas[i + 1] ?? meanDelta);
    const id = profile.samples[i] as number;
    const f = keyOf.get(id);
    if (!f) continue;
    totalUs += dt;
    f.selfMs += dt / 1000;
    if (f.functionName === '(idle)') idleUs += dt;
    const seen = new Set<FunctionTime>();
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const g = keyOf.get(node);
      if (g && !seen.has(g)) {
        seen.add(g);
        g.totalMs += dt / 1000;
      }
      if (!byId.has(node)) break;
    }
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const list = [...functions.values()].filter((f) => f.functionName !== '(root)');
  for (const f of list) {
    f.selfPercent = (100 * f.selfMs) / busyMs;
    f.totalPercent = (100 * f.totalMs) / busyMs;
  }
  const areas = new Map<string, number>();
  for (const f of list) if (f.functionName !== '(idle)') areas.set(f.area, (areas.get(f.area) ?? 0) + f.selfMs);
  if (window && counted === 0) {
    throw new Error(
      `no sample of the profile (${profile.startTime}–${profile.endTime} µs) falls in the load window (${window.fromUs}–${window.toUs} µs)`,
    );
  }
  return {
    durationMs: (lastUs - firstUs) / 1000,
    busyMs,
    idleMs: idleUs / 1000,
    samples: counted,
    functions: list.filter((f) => f.functionName !== '(idle)').sort((a, b) => b.selfMs - a.selfMs),
    areas: [...areas.entries()]
      .map(([area, selfMs]) => ({ area, selfMs, selfPercent: (100 * selfMs) / busyMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

/** Which part of the stack a frame belongs to: a package, Node itself, or meshkit's own code. */
export function areaOf(functionName: string, url: string): string {
  if (url === '') return SPECIAL.has(functionName) ? functionName : '(native code)';
  if (url.startsWith('node:')) return 'node: core';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? 'node_modules');
  }
  const m = /\/(packages\/toolkit|apps\/[^/]+)\/(?:dist|src)\/([^/]+)\//.exec(path);
  if (m) return `meshkit ${m[1]}/${m[2]}`;
  const top = /\/(packages\/toolkit|apps\/[^/]+)\/(?:dist|src)\//.exec(path);
  if (top) return `meshkit ${top[1]}`;
  return 'other';
}

class SourceMapper {
  private readonly maps = new Map<string, { map: SourceMap; dir: string } | null>();
  constructor(private readonly repoRoot: string) {}

  locate(url: string, line0: number, column0: number): string {
    if (!url.startsWith('file://')) return `${url}:${line0 + 1}`;
    const file = fileURLToPath(url);
    const entry = this.mapFor(file);
    if (entry) {
      const found = entry.map.findEntry(line0, column0) as {
        originalSource?: string;
        originalLine?: number;
      };
      if (found.originalSource !== undefined && found.originalLine !== undefined) {
        const source = found.originalSource.startsWith('file://')
          ? fileURLToPath(found.originalSource)
          : resolve(entry.dir, found.originalSource);
        return `${this.shown(source)}:${found.originalLine + 1}`;
      }
    }
    return `${this.shown(file)}:${line0 + 1}`;
  }

  private shown(file: string): string {
    const nm = file.lastIndexOf('/node_modules/');
    if (nm !== -1) return file.slice(nm + '/node_modules/'.length);
    const rel = relative(this.repoRoot, file);
    return rel.startsWith('..') ? file : rel;
  }

  private mapFor(file: string): { map: SourceMap; dir: string } | null {
    if (this.maps.has(file)) return this.maps.get(file) ?? null;
    let entry: { map: SourceMap; dir: string } | null = null;
    if (!file.includes('/node_modules/') && existsSync(`${file}.map`)) {
      try {
        entry = { map: new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))), dir: dirname(file) };
      } catch {
        entry = null;
      }
    }
    this.maps.set(file, entry);
    return entry;
  }
}
