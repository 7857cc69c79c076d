import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Scenario } from './scenario.js';

export interface LoadedScenarios {
  scenarios: Scenario[];
  /** Why there are none, when there are none. */
  note?: string;
}

/**
 * The extra scenarios of bench/scenarios/index.ts (compiled to dist/scenarios/index.js), when
 * that module exists: a bench without it still runs and says so. A module that exists but fails
 * to load is an error (the harness would otherwise rot silently).
 */
export async function loadScenarios(): Promise<LoadedScenarios> {
  const url = new URL('../scenarios/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    return { scenarios: [], note: 'No extra scenarios: bench/scenarios/index.ts does not exist (yet).' };
  }
  // A computed specifier: the module is optional, so the compiler must not require it.
  const mod = (await import(url.href)) as { scenarios?: unknown };
  if (!Array.isArray(mod.scenarios)) {
    throw new Error('bench/scenarios/index.ts must export `scenarios: Scenario[]`');
  }
  for (const s of mod.scenarios as Scenario[]) {
    if (typeof s?.name !== 'string' || typeof s.run !== 'function') {
      throw new Error('every entry of bench/scenarios `scenarios` needs a name and a run(opts) function');
    }
  }
  return { scenarios: mod.scenarios as Scenario[] };
}
