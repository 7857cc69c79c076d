import type { Clock, OpenApiDocument, ServiceCaller } from '@meshkit/toolkit/core';
import { matchRoute, type Route } from './route-table.js';

/** One service's document, as fetched from one of its instances. */
export interface ServiceDocument {
  service: string;
  document: OpenApiDocument;
}

const SCHEMA_REF = '#/components/schemas/';

/**
 * The gateway's own document plus each routed service's, in one: every path of a service that the
 * route table sends to that service (operations tagged with the service's name unless tagged
 * already), and its component schemas; a schema name two services use for different schemas is
 * prefixed with the service's name (`product-service.Item`) in the later one, references included.
 * Services in `missing` are named in the document's description and in `x-meshkit-missing`.
 */
export function mergeDocuments(
  own: OpenApiDocument,
  services: readonly ServiceDocument[],
  routes: readonly Route[],
  missing: readonly string[] = [],
): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = { ...own.paths };
  const schemas: Record<string, unknown> = { ...own.components?.schemas };

  for (const { service, document } of services) {
    const renames = new Map<string, string>();
    for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
      if (!(name in schemas) || sameJson(schemas[name], schema)) continue;
      let renamed = `${service}.${name}`;
      for (let n = 2; renamed in schemas; n += 1) renamed = `${service}.${name}.${n}`;
      renames.set(name, renamed);
    }
    const doc = renames.size === 0 ? document : renameRefs(document, renames);
    for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
      schemas[renames.get(name) ?? name] = schema;
    }
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      if (matchRoute(routes, path)?.service !== service || path in paths) continue;
      paths[path] = tagged(item, service);
    }
  }

  const merged: OpenApiDocument = {
    ...own,
    info: {
      ...own.info,
      ...(missing.length === 0
        ? {}
        : { description: `Not included (no instance answered with its document): ${missing.join(', ')}` }),
    },
    paths,
    components: { ...own.components, schemas },
  };
  if (missing.length > 0) merged['x-meshkit-missing'] = [...missing];
  return merged;
}

export interface MergedDocsOptions {
  client: ServiceCaller;
  routes: readonly Route[];
  clock: Clock;
  /** How long a complete merged document is served before it is fetched again. Default 5000 ms. */
  ttlMs?: number;
  /** Per-fetch timeout, ms. Default 2000. */
  timeoutMs?: number;
  logger?: { warn(obj: object, msg?: string): void };
}

/**
 * The gateway's merged document, for `ApiDocsOptions.document`: each routed service's
 * `/docs/json` from one healthy instance (through the client: balancing, breakers, retries),
 * merged with the gateway's own. A complete result is kept `ttlMs`; one missing a service is
 * not kept, so the next request asks again. Concurrent requests share one fetch.
 */
export function mergedDocs(options: MergedDocsOptions): (own: OpenApiDocument) => Promise<OpenApiDocument> {
  const ttlMs = options.ttlMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 2000;
  const services = [...new Set(options.routes.map((r) => r.service))];
  let cached: { at: number; document: OpenApiDocument } | undefined;
  let pending: Promise<OpenApiDocument> | undefined;

  const fetchOne = async (service: string): Promise<ServiceDocument | undefined> => {
    try {
      const res = await options.client.call<OpenApiDocument>(service, { method: 'GET', path: '/docs/json', timeoutMs });
      if (res.status === 200 && isDocument(res.body)) return { service, document: res.body };
      options.logger?.warn({ service, status: res.status }, 'no API document from the service');
    } catch (err) {
      options.logger?.warn({ service, err }, 'no API document from the service');
    }
    return undefined;
  };

  const build = async (own: OpenApiDocument): Promise<OpenApiDocument> => {
    const found = await Promise.all(services.map(fetchOne));
    const documents = found.filter((d): d is ServiceDocument => d !== undefined);
    const missing = services.filter((s) => !documents.some((d) => d.service === s));
    const document = mergeDocuments(own, documents, options.routes, missing);
    cached = missing.length === 0 ? { at: options.clock.now(), document } : undefined;
    return document;
  };

  return (own) => {
    if (cached && options.clock.now() - cached.at < ttlMs) return Promise.resolve(cached.document);
    pending ??= build(own).finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

function isDocument(body: unknown): body is OpenApiDocument {
  const b = body as Partial<OpenApiDocument> | undefined;
  return typeof b === 'object' && b !== null && typeof b.openapi === 'string' && typeof b.paths === 'object';
}

/** Operations (the methods of a path item) without tags get the service's name as their tag. */
function tagged(item: Record<string, unknown>, service: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) {
    const op = value as { tags?: unknown } | null;
    out[key] =
      HTTP_METHODS.has(key) && typeof op === 'object' && op !== null && op.tags === undefined
        ? { ...op, tags: [service] }
        : value;
  }
  return out;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** A deep copy with `$ref`s to renamed component schemas pointing at their new names. */
function renameRefs<T>(value: T, renames: ReadonlyMap<string, string>): T {
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, renames)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === '$ref' && typeof v === 'string' && v.startsWith(SCHEMA_REF)) {
      const name = v.slice(SCHEMA_REF.length);
      out[key] = SCHEMA_REF + (renames.get(name) ?? name);
    } else {
      out[key] = renameRefs(v, renames);
    }
  }
  return out as T;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
