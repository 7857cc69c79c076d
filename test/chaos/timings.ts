/**
 * Short timings, so that every scenario is over in seconds (the defaults are 6 s, 2 s, 10 s, 2 s):
 * - a lease of 3 s renewed every second: a dead instance leaves the registry within 3 s;
 * - 500 ms per attempt: a hung instance costs a request at most that before it is retried elsewhere;
 * - 300 ms to connect;
 * - the orders service 5 s per attempt (`REQUEST_TIMEOUT_MS_ORDER_SERVICE`): it calls users and
 *   products before it answers, each with 500 ms per attempt and retries elsewhere, so its own
 *   hop needs a budget that covers theirs (with 500 ms, a single slow reservation timed the order
 *   out at the gateway, and five in a row opened the breaker of the only orders instance for
 *   60 s); and, as the only instance, it has nowhere to be retried, so the budget also covers a
 *   stall of the whole VM (one of 2.2 s came in a clean-clone CI run, 2 s timed an order out);
 * - the users service 2 s (`REQUEST_TIMEOUT_MS_USER_SERVICE`): also a single instance, so the
 *   orders service's check of the user has nowhere to retry either (a 1.5 s stall in scenario 8b
 *   of another CI run timed it out at 500 ms).
 * Breakers (5 failures, open 60 s), outlier ejection (5 failures or one refused connection, 30 s)
 * and retries (3 attempts, 20 % budget) keep their defaults.
 */
export const TIMINGS = {
  REGISTRY_TTL_MS: 3000,
  HEARTBEAT_MS: 1000,
  REQUEST_TIMEOUT_MS: 500,
  CONNECT_TIMEOUT_MS: 300,
  REQUEST_TIMEOUT_MS_ORDER_SERVICE: 5000,
  REQUEST_TIMEOUT_MS_USER_SERVICE: 2000,
} as const;

/** How often the gateway's discovery re-reads the registry (Discovery's default; not configurable). */
export const RESYNC_MS = 1000;

/**
 * The steady load: 100 requests a second, a third of them orders. Sized to leave the 2-core VM
 * room for the faults themselves: there a cold meshkit process costs ~1.5 ms of CPU per request
 * per hop and a restart ~2.5 CPU-seconds, and at 150 req/s the machine was 60–100 % busy before
 * any fault, so a scenario measured CPU starvation (an overloaded survivor timing out five times,
 * its breaker shut for 60 s) rather than failover. 150 on the faster VM of earlier runs.
 */
export const LOAD_RATE = 100;
