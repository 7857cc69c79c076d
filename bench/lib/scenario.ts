// The contract between the bench runner (bench/run.ts) and the extra scenarios in
// bench/scenarios/: each scenario starts its own servers, measures, cleans up, and returns a
// table the runner renders as its own section of the results file.

/** Which core set a process goes on: `pin('server')` → e.g. ['taskset', '-c', '1'], or [] when not pinned. */
export type Pin = (role: 'server' | 'load') => string[];

export interface ScenarioOptions {
  /** One short round (CI): a few seconds in all, robustness over precision. */
  quick: boolean;
  /**
   * Command prefix that pins a process to the server core or the load-generator core. The harness
   * itself runs pinned to the load core, so a child started without a prefix inherits that core.
   */
  pin: Pin;
  /** NODE_OPTIONS of every meshkit gateway the scenario starts (`--gateway-node-options`). */
  gatewayNodeOptions?: string;
}

export interface ScenarioTarget {
  name: string;
  /** What was measured, formatted (e.g. "1.31 ×"). */
  value: string;
  /** The limit it is held to (e.g. "≤ 1.5 ×"). */
  limit: string;
  met: boolean;
}

export interface ScenarioResult {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  targets: ScenarioTarget[];
  notes: string[];
}

export interface Scenario {
  name: string;
  run(opts: ScenarioOptions): Promise<ScenarioResult>;
}
