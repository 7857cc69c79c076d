import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function failure(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

const SERVICE_FAULTS_SHAPE =
  'SERVICE_FAULTS must be a JSON array of {prefix, delay?: {ms, percent}, abort?: {status, percent}}: ';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      dataDir: './data',
      gatewayPort: 8000,
      gatewayWorkers: 1,
      usersPort: 8001,
      ordersPort: 8002,
      productsPort: 8003,
      registryPrefix: 'meshkit:',
      host: '127.0.0.1',
      logLevel: 'info',
      registryTtlMs: 6000,
      heartbeatMs: 2000,
      balancer: 'round_robin',
      balancers: {},
      breakerThreshold: 5,
      breakerOpenMs: 60_000,
      connectTimeoutMs: 2000,
      requestTimeoutMs: 10_000,
      requestTimeouts: {},
      outlierConsecutive5xx: 5,
      outlierBaseEjectionMs: 30_000,
      outlierMaxEjectionPercent: 50,
      retryMaxAttempts: 3,
      retryBudgetPercent: 20,
      corsOrigins: [],
      bodyLimit: 1_048_576,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://user:pw@redis.internal:6380/2',
      DATABASE_URL: 'postgresql://shop:pw@db.internal:5432/shop?sslmode=require',
      DATABASE_SCHEMA_PREFIX: 'shop_a_',
      DATA_DIR: '/var/lib/meshkit',
      GATEWAY_PORT: '9000',
      GATEWAY_WORKERS: '4',
      USERS_PORT: '9001',
      ORDERS_PORT: '9002',
      PRODUCTS_PORT: '9003',
      REGISTRY_PREFIX: 'shop-a:',
      PORT: '0',
      HOST: '0.0.0.0',
      ADVERTISE_HOST: 'users-1.internal',
      LOG_LEVEL: 'DEBUG',
      REGISTRY_TTL_MS: '3000',
      HEARTBEAT_MS: '1000',
      BALANCER: 'weighted',
      BALANCER_PRODUCT_SERVICE: 'p2c_ewma',
      BALANCER_USER_SERVICE: 'least_connections',
      BREAKER_THRESHOLD: '3',
      BREAKER_OPEN_MS: '5000',
      CONNECT_TIMEOUT_MS: '500',
      REQUEST_TIMEOUT_MS: '3000',
      REQUEST_TIMEOUT_MS_ORDER_SERVICE: '8000',
      DRAIN_DELAY_MS: '250',
      OUTLIER_CONSECUTIVE_5XX: '3',
      OUTLIER_BASE_EJECTION_MS: '1000',
      OUTLIER_MAX_EJECTION_PERCENT: '34',
      RETRY_MAX_ATTEMPTS: '2',
      RETRY_BUDGET_PERCENT: '10',
      GATEWAY_FAULTS: '[]',
      SERVICE_FAULTS: '[{"prefix": "/products", "delay": {"ms": 100, "percent": 100}}]',
      CORS_ORIGINS: 'https://shop.example, http://localhost:5173,',
      BODY_LIMIT: '2048',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318',
      OTEL_SERVICE_NAME: 'shop-a',
    });
    expect(config).toEqual({
      redisUrl: 'rediss://user:pw@redis.internal:6380/2',
      databaseUrl: 'postgresql://shop:pw@db.internal:5432/shop?sslmode=require',
      databaseSchemaPrefix: 'shop_a_',
      dataDir: '/var/lib/meshkit',
      gatewayPort: 9000,
      gatewayWorkers: 4,
      usersPort: 9001,
      ordersPort: 9002,
      productsPort: 9003,
      registryPrefix: 'shop-a:',
      port: 0,
      host: '0.0.0.0',
      advertiseHost: 'users-1.internal',
      logLevel: 'debug',
      registryTtlMs: 3000,
      heartbeatMs: 1000,
      balancer: 'weighted',
      balancers: { 'product-service': 'p2c_ewma', 'user-service': 'least_connections' },
      breakerThreshold: 3,
      breakerOpenMs: 5000,
      connectTimeoutMs: 500,
      requestTimeoutMs: 3000,
      requestTimeouts: { 'order-service': 8000 },
      drainDelayMs: 250,
      outlierConsecutive5xx: 3,
      outlierBaseEjectionMs: 1000,
      outlierMaxEjectionPercent: 34,
      retryMaxAttempts: 2,
      retryBudgetPercent: 10,
      gatewayFaults: '[]',
      serviceFaults: '[{"prefix": "/products", "delay": {"ms": 100, "percent": 100}}]',
      corsOrigins: ['https://shop.example', 'http://localhost:5173'],
      bodyLimit: 2048,
      otelEndpoint: 'http://collector.internal:4318',
      otelServiceName: 'shop-a',
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ GATEWAY_PORT: '', PORT: ' ', REDIS_URL: '' })).toMatchObject({ gatewayPort: 8000 });
    expect(loadConfig({ PORT: '' }).port).toBeUndefined();
    const noDatabase = loadConfig({ DATABASE_URL: ' ', DATABASE_SCHEMA_PREFIX: '' });
    expect(noDatabase.databaseUrl).toBeUndefined();
    expect(noDatabase.databaseSchemaPrefix).toBeUndefined();
  });

  it('accepts both PostgreSQL schemes, and a prefix alone', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/shop' }).databaseUrl).toBe('postgres://db/shop');
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@db:6432/shop' }).databaseUrl).toBe('postgresql://u@db:6432/shop');
    expect(loadConfig({ DATABASE_SCHEMA_PREFIX: '_' }).databaseSchemaPrefix).toBe('_');
    expect(loadConfig({ DATABASE_SCHEMA_PREFIX: 'a'.repeat(31) }).databaseSchemaPrefix).toHaveLength(31);
  });

  it.each([
    [{ GATEWAY_PORT: 'abc' }, 'GATEWAY_PORT must be an integer from 0 to 65535, got "abc"'],
    [{ GATEWAY_PORT: '65536' }, 'GATEWAY_PORT must be an integer from 0 to 65535, got "65536"'],
    [{ GATEWAY_WORKERS: '0' }, 'GATEWAY_WORKERS must be an integer from 1 to 64, got "0"'],
    [{ GATEWAY_WORKERS: '65' }, 'GATEWAY_WORKERS must be an integer from 1 to 64, got "65"'],
    [{ GATEWAY_WORKERS: 'two' }, 'GATEWAY_WORKERS must be an integer from 1 to 64, got "two"'],
    [{ PORT: '80.5' }, 'PORT must be an integer from 0 to 65535, got "80.5"'],
    [{ PRODUCTS_PORT: 'x' }, 'PRODUCTS_PORT must be an integer from 0 to 65535, got "x"'],
    [{ REGISTRY_PREFIX: 'two words' }, 'REGISTRY_PREFIX must be 1-100 printable characters without spaces, got "two words"'],
    [{ REGISTRY_TTL_MS: '5s' }, 'REGISTRY_TTL_MS must be an integer from 100 to 3600000, got "5s"'],
    [{ HEARTBEAT_MS: '-1' }, 'HEARTBEAT_MS must be an integer from 10 to 3600000, got "-1"'],
    [{ HEARTBEAT_MS: '6000' }, 'HEARTBEAT_MS must be less than REGISTRY_TTL_MS (6000), got "6000"'],
    [{ REGISTRY_TTL_MS: '1000' }, 'HEARTBEAT_MS must be less than REGISTRY_TTL_MS (1000), got "2000"'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"'],
    [
      { BALANCER: 'fastest' },
      'BALANCER must be one of round_robin, weighted, least_connections, random, p2c_ewma, consistent_hash, got "fastest"',
    ],
    [{ BALANCER_ORDER_SERVICE: 'rr' }, 'BALANCER_ORDER_SERVICE must be one of round_robin, weighted, least_connections, random, p2c_ewma, consistent_hash, got "rr"'],
    [{ BREAKER_THRESHOLD: '0' }, 'BREAKER_THRESHOLD must be an integer from 1 to 1000, got "0"'],
    [{ BREAKER_OPEN_MS: 'x' }, 'BREAKER_OPEN_MS must be an integer from 1 to 86400000, got "x"'],
    [{ CONNECT_TIMEOUT_MS: '0' }, 'CONNECT_TIMEOUT_MS must be an integer from 1 to 600000, got "0"'],
    [{ REQUEST_TIMEOUT_MS: '1e4' }, 'REQUEST_TIMEOUT_MS must be an integer from 1 to 3600000, got "1e4"'],
    [{ REQUEST_TIMEOUT_MS_ORDER_SERVICE: '0' }, 'REQUEST_TIMEOUT_MS_ORDER_SERVICE must be an integer from 1 to 3600000, got "0"'],
    [{ RETRY_MAX_ATTEMPTS: '0' }, 'RETRY_MAX_ATTEMPTS must be an integer from 1 to 10, got "0"'],
    [{ OUTLIER_MAX_EJECTION_PERCENT: '101' }, 'OUTLIER_MAX_EJECTION_PERCENT must be an integer from 0 to 100, got "101"'],
    [{ DRAIN_DELAY_MS: '-5' }, 'DRAIN_DELAY_MS must be an integer from 0 to 600000, got "-5"'],
    [{ SERVICE_FAULTS: '{"prefix": "/products"}' }, `${SERVICE_FAULTS_SHAPE}got an object`],
    [
      { SERVICE_FAULTS: '[{"prefix": "/products", "abort": {"status": 700, "percent": 50}}]' },
      `${SERVICE_FAULTS_SHAPE}[0].abort.status must be an integer from 400 to 599, got 700`,
    ],
    [{ BODY_LIMIT: '1MiB' }, 'BODY_LIMIT must be an integer from 1 to 1073741824, got "1MiB"'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL must be a redis:// or rediss:// URL, got one with scheme "localhost:"'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL must be a redis:// or rediss:// URL, got a value that is not a URL'],
    [
      { CORS_ORIGINS: 'https://shop.example/' },
      'CORS_ORIGINS entries must be "*" or an origin like https://shop.example (scheme, host, port; no path), got "https://shop.example/"',
    ],
    [{ DATABASE_URL: 'mysql://db/shop' }, 'DATABASE_URL must be a postgres:// or postgresql:// URL, got one with scheme "mysql:"'],
    [{ DATABASE_URL: 'db:5432/shop' }, 'DATABASE_URL must be a postgres:// or postgresql:// URL, got one with scheme "db:"'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL must be a postgres:// or postgresql:// URL, got a value that is not a URL'],
    ...['Shop_', '1shop', 'shop-a', 'a'.repeat(32), 'shop a'].map((prefix): [NodeJS.ProcessEnv, string] => [
      { DATABASE_SCHEMA_PREFIX: prefix },
      `DATABASE_SCHEMA_PREFIX must be 1-31 characters of a-z, 0-9 and _, not starting with a digit, got "${prefix}"`,
    ]),
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' },
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, got one with scheme "grpc:"',
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, got one with scheme "collector:"',
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, got a value that is not a URL',
    ],
    [{ OTEL_SERVICE_NAME: 'a'.repeat(256) }, `OTEL_SERVICE_NAME must be 1-255 printable characters, got "${'a'.repeat(80)}…"`],
    [{ NATS_URL: 'nats://127.0.0.1:4222' }, 'NATS_URL is set, but NATS support is not built yet: unset NATS_URL to use the in-memory event bus'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(failure(env)).toBe(message);
  });

  it('never echoes a Redis URL, which may hold a password', () => {
    expect(failure({ REDIS_URL: 'http://user:hunter2@redis:6379' })).not.toContain('hunter2');
  });

  it('never echoes a database URL, which may hold a password', () => {
    expect(failure({ DATABASE_URL: 'mysql://user:hunter2@db/shop' })).not.toContain('hunter2');
    expect(failure({ DATABASE_URL: 'postgres://user:hunter2@db:port/shop' })).not.toContain('hunter2');
  });

  it('leaves DRAIN_DELAY_MS undefined when unset, so the launcher can pick a default for the registry', () => {
    expect(loadConfig({}).drainDelayMs).toBeUndefined();
    expect(loadConfig({ DRAIN_DELAY_MS: ' ' }).drainDelayMs).toBeUndefined();
    expect(loadConfig({ DRAIN_DELAY_MS: '0', REDIS_URL: 'redis://127.0.0.1:6379' }).drainDelayMs).toBe(0);
  });

  it('keeps SERVICE_FAULTS as given once checked; blank is unset', () => {
    const json = '[{"prefix":"product-service","abort":{"status":500,"percent":50}}]';
    expect(loadConfig({ SERVICE_FAULTS: json }).serviceFaults).toBe(json);
    expect(loadConfig({ SERVICE_FAULTS: '  ' }).serviceFaults).toBeUndefined();
    expect(failure({ SERVICE_FAULTS: '[{"prefix": "/products",\n' })).toMatch(
      /^SERVICE_FAULTS must be a JSON array .*: not valid JSON \(.+\)$/,
    );
  });

  it('reads the OTLP endpoint as given (https too); blank is unset, and tracing stays off', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base/' }).otelEndpoint).toBe(
      'https://otel.example/base/',
    );
    const off = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ', OTEL_SERVICE_NAME: '' });
    expect(off.otelEndpoint).toBeUndefined();
    expect(off.otelServiceName).toBeUndefined();
  });

  it('never echoes an OTLP endpoint, which may hold credentials', () => {
    expect(failure({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:hunter2@collector:4318' })).not.toContain('hunter2');
  });

  it('keeps a bad value on one line', () => {
    expect(failure({ GATEWAY_PORT: '80\n81' })).toBe('GATEWAY_PORT must be an integer from 0 to 65535, got "80 81"');
  });
});
