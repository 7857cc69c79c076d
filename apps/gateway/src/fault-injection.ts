import { ConfigError, PROBLEM_CONTENT_TYPE, problemBody } from '@meshkit/toolkit';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Route } from './route-table.js';

/**
 * Fault injection by route, as Istio's VirtualService `fault.delay` / `fault.abort` do it: for a
 * share of the requests under a prefix (or to a service), wait before forwarding, or answer an
 * error without calling the upstream at all. Off unless rules are configured.
 */
export interface FaultRule {
  /** A route prefix (`/products`, `/products/special`) or a service name (`product-service`). */
  prefix: string;
  /** Wait `ms` before forwarding, for `percent` (0–100) of the matching requests. */
  delay?: { ms: number; percent: number };
  /** Answer `status` (400–599) problem+json instead of forwarding, for `percent` of them. */
  abort?: { status: number; percent: number };
}

/** Response header naming the faults injected into a request: `delay`, `abort` or `delay, abort`. */
export const FAULT_HEADER = 'x-meshkit-fault';

/** The problem `type` of an injected abort. */
export const INJECTED_FAULT_TYPE = 'urn:meshkit:problem:injected-fault';

const SHAPE = 'must be a JSON array of {prefix, delay?: {ms, percent}, abort?: {status, percent}}';
const MAX_DELAY_MS = 600_000;
const ROUTE_PREFIX = /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The rules in `GATEWAY_FAULTS` (raw JSON). Unset or blank: no rules. Anything else that is not a
 * valid list of rules throws a ConfigError whose message is one line naming the variable.
 */
export function parseFaultRules(json: string | undefined): FaultRule[] {
  if (json === undefined || json.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`GATEWAY_FAULTS ${SHAPE}: not valid JSON (${oneLine((err as Error).message)})`);
  }
  return checkFaultRules(value, 'GATEWAY_FAULTS');
}

/** Checks rules given as values (`name` is what the message calls them); returns frozen copies. */
export function checkFaultRules(value: unknown, name = 'faults'): FaultRule[] {
  const fail = (what: string): never => {
    throw new ConfigError(`${name} ${SHAPE}: ${what}`);
  };
  if (!Array.isArray(value)) fail(`got ${kindOf(value)}`);
  const rules: FaultRule[] = [];
  const seen = new Set<string>();
  (value as unknown[]).forEach((item, i) => {
    const at = `[${i}]`;
    const fields = objectWith(item, ['prefix', 'delay', 'abort'], at, fail);
    const prefix = fields.prefix;
    if (typeof prefix !== 'string' || !(ROUTE_PREFIX.test(prefix) || SERVICE_NAME.test(prefix))) {
      fail(`${at}.prefix must be a route prefix like /products or a service name like product-service, got ${shown(prefix)}`);
    }
    const p = prefix as string;
    if (seen.has(p)) fail(`${at}.prefix ${shown(p)} appears twice`);
    seen.add(p);
    if (fields.delay === undefined && fields.abort === undefined) fail(`${at} (${p}) has neither delay nor abort`);

    const rule: FaultRule = { prefix: p };
    if (fields.delay !== undefined) {
      const d = objectWith(fields.delay, ['ms', 'percent'], `${at}.delay`, fail);
      const ms = integerIn(d.ms, 1, MAX_DELAY_MS, `${at}.delay.ms`, fail);
      rule.delay = Object.freeze({ ms, percent: percentOf(d.percent, `${at}.delay.percent`, fail) });
    }
    if (fields.abort !== undefined) {
      const a = objectWith(fields.abort, ['status', 'percent'], `${at}.abort`, fail);
      const status = integerIn(a.status, 400, 599, `${at}.abort.status`, fail);
      rule.abort = Object.freeze({ status, percent: percentOf(a.percent, `${at}.abort.percent`, fail) });
    }
    rules.push(Object.freeze(rule));
  });
  return rules;
}

/** What the injector decided for one request. */
export interface InjectedFault {
  rule: FaultRule;
  /** Wait this long before going on; 0 for none. */
  delayMs: number;
  /** Answer this status instead of calling the upstream. */
  abortStatus?: number;
  /** The `x-meshkit-fault` value: `delay`, `abort` or `delay, abort`. */
  header: string;
}

/**
 * Picks the rule of a request and rolls its dice. A path rule wins over a service rule, the
 * longest path prefix over shorter ones; delay and abort are drawn apart, delay first (Envoy's
 * order: a request may be delayed and then aborted).
 */
export class FaultInjector {
  readonly rules: readonly FaultRule[];
  private readonly byPath: FaultRule[];
  private readonly byService = new Map<string, FaultRule>();

  /**
   * `routes` are the gateway's: a rule that no routed request could match is refused, so a typo
   * fails at start instead of silently injecting nothing. `random` returns [0, 1).
   */
  constructor(
    rules: readonly FaultRule[],
    routes: readonly Route[],
    private readonly random: () => number = Math.random,
  ) {
    this.rules = Object.freeze(checkFaultRules(rules));
    for (const rule of this.rules) {
      if (!routes.some((r) => reaches(rule, r))) {
        const known = routes.map((r) => `${r.prefix} (${r.service})`).join(', ');
        throw new ConfigError(`fault rule ${shown(rule.prefix)} matches no gateway route; routes: ${known || 'none'}`);
      }
      if (!rule.prefix.startsWith('/')) this.byService.set(rule.prefix, rule);
    }
    this.byPath = this.rules.filter((r) => r.prefix.startsWith('/')).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** True when any rule is configured. */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** The faults to inject into a request for `path` (with its query) routed to `service`, if any. */
  decide(path: string, service: string): InjectedFault | undefined {
    const rule = this.byPath.find((r) => underPrefix(path, r.prefix)) ?? this.byService.get(service);
    if (rule === undefined) return undefined;
    const delayed = rule.delay !== undefined && this.hit(rule.delay.percent);
    const aborted = rule.abort !== undefined && this.hit(rule.abort.percent);
    if (!delayed && !aborted) return undefined;
    const names = [delayed ? 'delay' : '', aborted ? 'abort' : ''].filter((n) => n !== '');
    return {
      rule,
      delayMs: delayed ? (rule.delay?.ms ?? 0) : 0,
      ...(aborted ? { abortStatus: rule.abort?.status } : {}),
      header: names.join(', '),
    };
  }

  private hit(percent: number): boolean {
    return percent > 0 && this.random() * 100 < percent;
  }
}

/** The answer to an aborted request: problem+json of the rule's status, saying who made it. */
export function sendInjectedAbort(reply: FastifyReply, fault: InjectedFault, service: string): FastifyReply {
  const status = fault.abortStatus ?? 500;
  const detail =
    `The gateway's fault injection answered ${status} instead of calling ${service} ` +
    `(rule ${fault.rule.prefix}: abort ${fault.rule.abort?.percent ?? 0}% of requests)`;
  const url = reply.request.url;
  const q = url.indexOf('?');
  const body = problemBody(status, 'Injected fault', detail, INJECTED_FAULT_TYPE, {
    instance: q === -1 ? url : url.slice(0, q),
  });
  reply.code(status).header('content-type', PROBLEM_CONTENT_TYPE).header(FAULT_HEADER, fault.header);
  return reply.send(JSON.stringify(body));
}

/** `GET /faults`: the active rules, read-only, in the shape `GATEWAY_FAULTS` takes. */
export function faultsRoute(app: FastifyInstance, injector: FaultInjector): void {
  app.get('/faults', async () => ({ rules: injector.rules }));
}

/** The same ownership as a route prefix: the exact path, its query, its subtree. */
function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** Whether some request routed by `route` can match `rule`. */
function reaches(rule: FaultRule, route: Route): boolean {
  if (!rule.prefix.startsWith('/')) return rule.prefix === route.service;
  return underPrefix(rule.prefix, route.prefix) || underPrefix(route.prefix, rule.prefix);
}

type Fail = (what: string) => never;

function objectWith(value: unknown, allowed: string[], at: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`${at} must be an object, got ${kindOf(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${at} has an unknown field ${shown(key)} (allowed: ${allowed.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function integerIn(value: unknown, min: number, max: number, at: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${at} must be an integer from ${min} to ${max}, got ${shown(value)}`);
  }
  return value as number;
}

function percentOf(value: unknown, at: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
    fail(`${at} must be a number from 0 to 100, got ${shown(value)}`);
  }
  return value as number;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${shown(value)}`;
}

/** A value quoted on one line and kept short. */
function shown(value: unknown): string {
  const text = value === undefined ? 'nothing' : oneLine(JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
