/** The services `meshkit cluster` can replicate; the gateway always runs once, on GATEWAY_PORT. */
export const clusterServices = ['users', 'products', 'orders'] as const;
export type ClusterService = (typeof clusterServices)[number];

/** How many instances of each service a cluster runs. */
export type Replicas = Record<ClusterService, number>;

export const MAX_REPLICAS = 16;

/** A bad `--replicas` list or a missing backend: the message is one line, fit to print and exit 2 on. */
export class ClusterUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterUsageError';
  }
}

/**
 * Parses `users=2,products=3` (any subset, each service at most once, counts 1–16); services
 * left out run once. An absent or blank list means one of each.
 */
export function parseReplicas(list: string | undefined): Replicas {
  const replicas: Replicas = { users: 1, products: 1, orders: 1 };
  if (list === undefined || list.trim() === '') return replicas;
  const seen = new Set<string>();
  for (const raw of list.split(',')) {
    const item = raw.trim();
    const match = /^([^=\s]+)\s*=\s*(\S*)$/.exec(item);
    if (!match) {
      throw new ClusterUsageError(
        `--replicas: ${JSON.stringify(item)} is not service=count (e.g. --replicas users=2,products=3)`,
      );
    }
    const [, name = '', count = ''] = match;
    if (!(clusterServices as readonly string[]).includes(name)) {
      const hint = name === 'gateway' ? ' (the gateway runs once, on GATEWAY_PORT)' : '';
      throw new ClusterUsageError(
        `--replicas: ${JSON.stringify(name)} is not a service; use ${clusterServices.join(', ')}${hint}`,
      );
    }
    if (seen.has(name)) throw new ClusterUsageError(`--replicas: ${name} is given twice`);
    seen.add(name);
    const n = /^[0-9]{1,3}$/.test(count) ? Number(count) : Number.NaN;
    if (!(n >= 1 && n <= MAX_REPLICAS)) {
      throw new ClusterUsageError(
        `--replicas: ${name}=${count} must be a whole number of replicas from 1 to ${MAX_REPLICAS}`,
      );
    }
    replicas[name as ClusterService] = n;
  }
  return replicas;
}

/**
 * What a cluster needs before it starts any process, from the raw environment (read before
 * `loadConfig`, which judges the values): Redis, because its processes find each other there,
 * and a shared database for any service with more than one replica — SQLite files are per host
 * and per process, so two replicas on SQLite would be two different shops.
 * Throws ClusterUsageError naming everything missing on one line.
 */
export function checkClusterBackends(replicas: Replicas, env: NodeJS.ProcessEnv): void {
  const missing: string[] = [];
  const reasons: string[] = [];
  if (!env.REDIS_URL?.trim()) {
    missing.push('REDIS_URL');
    reasons.push('its processes find each other through Redis');
  }
  const shared = clusterServices.filter((s) => replicas[s] > 1);
  if (shared.length > 0 && !env.DATABASE_URL?.trim()) {
    missing.push('DATABASE_URL');
    const counts = shared.map((s) => `${s} has ${replicas[s]} replicas`).join(' and ');
    reasons.push(`${counts}, and replicas of a service must share one database`);
  }
  if (missing.length > 0) {
    throw new ClusterUsageError(`cluster needs ${missing.join(' and ')}: ${reasons.join('; ')}`);
  }
}
