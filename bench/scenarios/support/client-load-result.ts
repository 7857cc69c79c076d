/** What servers/client-load.ts prints: one closed-loop run through a client library. */
export interface ClientLoadResult {
  mode: 'pool' | 'client';
  requests: number;
  failures: number;
  seconds: number;
  rps: number;
  /** CPU (user + system) of the whole client process per timed request, µs. */
  cpuUsPerRequest: number;
  p50Us: number;
  p99Us: number;
  /** Timed requests answered by each target, in TARGETS order. */
  byTarget: number[];
}
