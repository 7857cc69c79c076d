import { type StrategyName, strategyNames } from '../balancing/strategy.js';
import { parseFaultRules } from '../service/fault-injection.js';

/** Bad configuration: the message is one line naming the variable, fit to print and exit on. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Everything meshkit reads from the environment, checked once at start. */
export interface MeshConfig {
  /** Registry in Redis; absent: in-memory registry. */
  redisUrl?: string;
  /** PostgreSQL, each service in its own schema; absent: SQLite files in `dataDir`. May hold a password: never log it. */
  databaseUrl?: string;
  /** Put before each service's schema name (`shop_a_` → `shop_a_users`), so several systems can share one database. */
  databaseSchemaPrefix?: string;
  dataDir: string;
  gatewayPort: number;
  /** `GATEWAY_WORKERS`: gateway processes sharing the gateway's port (node:cluster) for `meshkit run gateway`. */
  gatewayWorkers: number;
  /** Ports of the seed's services when `meshkit start` runs them all in one process. */
  usersPort: number;
  ordersPort: number;
  productsPort: number;
  /** A service's own port for `meshkit run <service>`; absent: the service's port above. */
  port?: number;
  /** Key prefix of the Redis registry, so several systems can share one Redis. */
  registryPrefix: string;
  host: string;
  advertiseHost?: string;
  logLevel: LogLevel;
  registryTtlMs: number;
  heartbeatMs: number;
  balancer: StrategyName;
  /** Per-service strategy, from `BALANCER_<SERVICE>` (`BALANCER_PRODUCT_SERVICE` → `product-service`). */
  balancers: Record<string, StrategyName>;
  breakerThreshold: number;
  breakerOpenMs: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Per-service per-attempt timeouts, from `REQUEST_TIMEOUT_MS_<SERVICE>` (`REQUEST_TIMEOUT_MS_ORDER_SERVICE` → `order-service`). */
  requestTimeouts: Record<string, number>;
  /**
   * On stop, how long an instance keeps serving after deregistering; absent when `DRAIN_DELAY_MS`
   * is unset, so the launcher picks a default that fits the registry (0 in memory, 1500 in Redis).
   */
  drainDelayMs?: number;
  /** Outlier ejection: consecutive 5xx/timeouts that eject, base ejection time, max share ejected. */
  outlierConsecutive5xx: number;
  outlierBaseEjectionMs: number;
  outlierMaxEjectionPercent: number;
  /** Attempts per safe request (1 = no retries) and the retry budget as a share of requests. */
  retryMaxAttempts: number;
  retryBudgetPercent: number;
  /** Gateway fault injection rules, raw JSON (the gateway parses them); absent: none. */
  gatewayFaults?: string;
  /** Fault injection rules for every service this process runs, raw JSON (checked here); absent: none. */
  serviceFaults?: string;
  corsOrigins: string[];
  bodyLimit: number;
  /** OTLP/HTTP collector (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://collector:4318`); absent: no tracing SDK. */
  otelEndpoint?: string;
  /** `OTEL_SERVICE_NAME`: every span's `service.name`; absent: each part's own service name. */
  otelServiceName?: string;
}

const HOUR_MS = 3_600_000;

/** Reads and checks the configuration; throws ConfigError on the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): MeshConfig {
  notBuiltYet(env, 'NATS_URL', 'NATS', 'to use the in-memory event bus');

  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number =>
    integer(name, read(name), min, max) ?? fallback;

  const registryTtlMs = int('REGISTRY_TTL_MS', 6000, 100, HOUR_MS);
  const heartbeatMs = int('HEARTBEAT_MS', 2000, 10, HOUR_MS);
  if (heartbeatMs >= registryTtlMs) {
    throw new ConfigError(
      `HEARTBEAT_MS must be less than REGISTRY_TTL_MS (${registryTtlMs}), got "${heartbeatMs}"`,
    );
  }

  const config: MeshConfig = {
    dataDir: read('DATA_DIR') ?? './data',
    gatewayPort: int('GATEWAY_PORT', 8000, 0, 65535),
    gatewayWorkers: int('GATEWAY_WORKERS', 1, 1, 64),
    usersPort: int('USERS_PORT', 8001, 0, 65535),
    ordersPort: int('ORDERS_PORT', 8002, 0, 65535),
    productsPort: int('PRODUCTS_PORT', 8003, 0, 65535),
    registryPrefix: prefix('REGISTRY_PREFIX', read('REGISTRY_PREFIX')) ?? 'meshkit:',
    host: read('HOST') ?? '127.0.0.1',
    logLevel: oneOf('LOG_LEVEL', read('LOG_LEVEL')?.toLowerCase(), logLevels) ?? 'info',
    registryTtlMs,
    heartbeatMs,
    balancer: oneOf('BALANCER', read('BALANCER'), strategyNames) ?? 'round_robin',
    balancers: perService(env, 'BALANCER_', (name, raw) => oneOf(name, raw, strategyNames)),
    breakerThreshold: int('BREAKER_THRESHOLD', 5, 1, 1000),
    breakerOpenMs: int('BREAKER_OPEN_MS', 60_000, 1, 24 * HOUR_MS),
    connectTimeoutMs: int('CONNECT_TIMEOUT_MS', 2000, 1, 10 * 60_000),
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 10_000, 1, HOUR_MS),
    requestTimeouts: perService(env, 'REQUEST_TIMEOUT_MS_', (name, raw) => integer(name, raw, 1, HOUR_MS)),
    outlierConsecutive5xx: int('OUTLIER_CONSECUTIVE_5XX', 5, 1, 1000),
    outlierBaseEjectionMs: int('OUTLIER_BASE_EJECTION_MS', 30_000, 1, HOUR_MS),
    outlierMaxEjectionPercent: int('OUTLIER_MAX_EJECTION_PERCENT', 50, 0, 100),
    retryMaxAttempts: int('RETRY_MAX_ATTEMPTS', 3, 1, 10),
    retryBudgetPercent: int('RETRY_BUDGET_PERCENT', 20, 0, 100),
    corsOrigins: origins('CORS_ORIGINS', read('CORS_ORIGINS')),
    bodyLimit: int('BODY_LIMIT', 1_048_576, 1, 1024 * 1_048_576),
  };
  const redisUrl = redis('REDIS_URL', read('REDIS_URL'));
  if (redisUrl !== undefined) config.redisUrl = redisUrl;
  const databaseUrl = postgres('DATABASE_URL', read('DATABASE_URL'));
  if (databaseUrl !== undefined) config.databaseUrl = databaseUrl;
  const schemaPrefix = schemaNamePrefix('DATABASE_SCHEMA_PREFIX', read('DATABASE_SCHEMA_PREFIX'));
  if (schemaPrefix !== undefined) config.databaseSchemaPrefix = schemaPrefix;
  const port = integer('PORT', read('PORT'), 0, 65535);
  if (port !== undefined) config.port = port;
  const gatewayFaults = read('GATEWAY_FAULTS');
  if (gatewayFaults !== undefined) config.gatewayFaults = gatewayFaults;
  const serviceFaults = read('SERVICE_FAULTS');
  if (serviceFaults !== undefined) {
    parseFaultRules(serviceFaults, 'SERVICE_FAULTS'); // the toolkit applies them: judge them now, not at the first request
    config.serviceFaults = serviceFaults;
  }
  const drainDelayMs = integer('DRAIN_DELAY_MS', read('DRAIN_DELAY_MS'), 0, 10 * 60_000);
  if (drainDelayMs !== undefined) config.drainDelayMs = drainDelayMs;
  const advertiseHost = read('ADVERTISE_HOST');
  if (advertiseHost !== undefined) config.advertiseHost = advertiseHost;
  const otelEndpoint = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', read('OTEL_EXPORTER_OTLP_ENDPOINT'));
  if (otelEndpoint !== undefined) config.otelEndpoint = otelEndpoint;
  const otelServiceName = serviceName('OTEL_SERVICE_NAME', read('OTEL_SERVICE_NAME'));
  if (otelServiceName !== undefined) config.otelServiceName = otelServiceName;
  return config;
}

function notBuiltYet(env: NodeJS.ProcessEnv, name: string, what: string, instead: string): void {
  if (env[name]?.trim()) {
    throw new ConfigError(`${name} is set, but ${what} support is not built yet: unset ${name} ${instead}`);
  }
}

function integer(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^-?[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${shown(raw)}`);
  }
  return n;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${shown(raw)}`);
  }
  return raw as T;
}

/**
 * `<PREFIX><SERVICE>=value` for every service that has one: the service name is the rest of the
 * variable's name, lower-cased, `_` as `-` (`BALANCER_PRODUCT_SERVICE` → `product-service`).
 */
function perService<T>(
  env: NodeJS.ProcessEnv,
  prefix: string,
  parse: (name: string, raw: string | undefined) => T | undefined,
): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || name.length === prefix.length) continue;
    const parsed = parse(name, value?.trim() || undefined);
    if (parsed === undefined) continue;
    out[name.slice(prefix.length).toLowerCase().replaceAll('_', '-')] = parsed;
  }
  return out;
}

/** Printable, without spaces, at most 100 characters. */
function prefix(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^[!-~]{1,100}$/.test(raw)) {
    throw new ConfigError(`${name} must be 1-100 printable characters without spaces, got ${shown(raw)}`);
  }
  return raw;
}

/** A Redis URL. Never echoed back: it may hold a password. */
function redis(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL, got a value that is not a URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL, got one with scheme "${url.protocol}"`);
  }
  return raw;
}

/** A PostgreSQL URL. Never echoed back: it may hold a password. */
function postgres(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a postgres:// or postgresql:// URL, got a value that is not a URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`${name} must be a postgres:// or postgresql:// URL, got one with scheme "${url.protocol}"`);
  }
  return raw;
}

/** An http(s) URL. Never echoed back: it may hold credentials. */
function httpUrl(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got a value that is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got one with scheme "${url.protocol}"`);
  }
  return raw;
}

/** 1-255 printable characters (spaces allowed inside). */
function serviceName(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^[ -~]{1,255}$/.test(raw)) {
    throw new ConfigError(`${name} must be 1-255 printable characters, got ${shown(raw)}`);
  }
  return raw;
}

/** Lower-case identifier characters, so prefix + service name is a schema name without quoting. */
function schemaNamePrefix(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^[a-z_][a-z0-9_]{0,30}$/.test(raw)) {
    throw new ConfigError(
      `${name} must be 1-31 characters of a-z, 0-9 and _, not starting with a digit, got ${shown(raw)}`,
    );
  }
  return raw;
}

/** A comma list of exact origins (`https://shop.example`, no path) or `*`. */
function origins(name: string, raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const list = raw
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of list) {
    if (origin !== '*' && !isOrigin(origin)) {
      throw new ConfigError(
        `${name} entries must be "*" or an origin like https://shop.example (scheme, host, port; no path), got ${shown(origin)}`,
      );
    }
  }
  return list;
}

function isOrigin(s: string): boolean {
  try {
    const url = new URL(s);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s;
  } catch {
    return false;
  }
}

/** A bad value, quoted on one line and kept short. */
function shown(raw: string): string {
  const oneLine = raw.replace(/[\r\n]+/g, ' ');
  return JSON.stringify(oneLine.length > 80 ? `${oneLine.slice(0, 80)}…` : oneLine);
}
