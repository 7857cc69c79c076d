import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ConfigError } from '../config/config.js';
import type { RequestDeadline } from './deadline-hook.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem.js';
import { urlPath } from '../wire/url-path.js';

/**
 * HTTP fault injection, as Istio's VirtualService `fault.delay` / `fault.abort` do it: for a share
 * of the requests under a prefix, wait before going on, or answer an error without doing the work.
 * The rules, their strict parsing and the dice live here; the gateway matches them against its
 * routes, a service (`installServiceFaults`) against its own request paths.
 */
export interface FaultRule {
  /** A route prefix (`/products`, `/products/special`) or a service name (`product-service`). */
  prefix: string;
  /** Wait `ms` before going on, for `percent` (0–100) of the matching requests. */
  delay?: { ms: number; percent: number };
  /** Answer `status` (400–599) problem+json instead, for `percent` of them. */
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
 * The rules in an environment variable's raw JSON (`variable` names it in messages, e.g.
 * `SERVICE_FAULTS`). Unset or blank: no rules. Anything else that is not a valid list of rules
 * throws a ConfigError whose message is one line naming the variable.
 */
export function parseFaultRules(json: string | undefined, variable: string): FaultRule[] {
  if (json === undefined || json.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`${variable} ${SHAPE}: not valid JSON (${oneLine((err as Error).message)})`);
  }
  return checkFaultRules(value, variable);
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

/** What the dice decided for one request. */
export interface InjectedFault {
  rule: FaultRule;
  /** Wait this long before going on; 0 for none. */
  delayMs: number;
  /** Answer this status instead of doing the work. */
  abortStatus?: number;
  /** The `x-meshkit-fault` value: `delay`, `abort` or `delay, abort`. */
  header: string;
}

/**
 * Rolls a rule's dice for one request (`random` returns [0, 1)). Delay and abort are drawn apart,
 * delay first (Envoy's order: a request may be delayed and then aborted). Undefined: no fault.
 */
export function rollFault(rule: FaultRule, random: () => number): InjectedFault | undefined {
  const hit = (percent: number) => percent > 0 && random() * 100 < percent;
  const delayed = rule.delay !== undefined && hit(rule.delay.percent);
  const aborted = rule.abort !== undefined && hit(rule.abort.percent);
  if (!delayed && !aborted) return undefined;
  const names = [delayed ? 'delay' : '', aborted ? 'abort' : ''].filter((n) => n !== '');
  return {
    rule,
    delayMs: delayed ? (rule.delay?.ms ?? 0) : 0,
    ...(aborted ? { abortStatus: rule.abort?.status } : {}),
    header: names.join(', '),
  };
}

/** Route-prefix ownership: the exact path, its query, its subtree (`/products` owns `/products/1`, not `/productsX`). */
export function pathUnderPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** Whether a rule names a route prefix (else a service). */
export function isPathRule(rule: FaultRule): boolean {
  return rule.prefix.startsWith('/');
}

/**
 * Waits an injected delay. Resolves false (early) when `signal` aborts: the caller gave up or its
 * deadline passed, and the work must not start.
 */
export async function injectedDelay(ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
    return true;
  } catch {
    return false;
  }
}

/** Answers an injected abort: problem+json of the rule's status, `detail` saying who made it. */
export function sendFaultAbort(reply: FastifyReply, fault: InjectedFault, detail: string): FastifyReply {
  const status = fault.abortStatus ?? 500;
  const body = problemBody(status, 'Injected fault', detail, INJECTED_FAULT_TYPE, {
    instance: urlPath(reply.request.url),
  });
  reply.code(status).header('content-type', PROBLEM_CONTENT_TYPE).header(FAULT_HEADER, fault.header);
  return reply.send(JSON.stringify(body));
}

/** Paths a service's fault rules never touch: health checks must tell the truth about the instance. */
export function isHealthPath(path: string): boolean {
  return pathUnderPrefix(path, '/health') || pathUnderPrefix(path, '/info');
}

/**
 * A service's own rules: a path rule matches the request path (the longest prefix wins), a
 * service-name rule matches every request of the service of that name, and health paths
 * (`/health*`, `/info`) are never faulted. Rules naming another service are kept (the same
 * `SERVICE_FAULTS` may reach every service of a system) but match nothing here.
 */
export class ServiceFaults {
  readonly rules: readonly FaultRule[];
  private readonly byPath: FaultRule[];
  private readonly forService: FaultRule | undefined;

  constructor(
    rules: readonly FaultRule[],
    service: string,
    private readonly random: () => number = Math.random,
  ) {
    this.rules = Object.freeze(checkFaultRules(rules));
    for (const rule of this.rules) {
      if (isPathRule(rule) && isHealthPath(rule.prefix)) {
        throw new ConfigError(
          `fault rule ${shown(rule.prefix)} would fault a health route; /health* and /info are never faulted`,
        );
      }
    }
    this.byPath = this.rules.filter(isPathRule).sort((a, b) => b.prefix.length - a.prefix.length);
    this.forService = this.rules.find((r) => !isPathRule(r) && r.prefix === service);
  }

  /** True when some rule can match a request of this service. */
  get active(): boolean {
    return this.byPath.length > 0 || this.forService !== undefined;
  }

  /** The faults to inject into a request for `url` (path with query), if any. */
  decide(url: string): InjectedFault | undefined {
    if (isHealthPath(url)) return undefined;
    const rule = this.byPath.find((r) => pathUnderPrefix(url, r.prefix)) ?? this.forService;
    return rule === undefined ? undefined : rollFault(rule, this.random);
  }
}

export interface ServiceFaultOptions {
  /** The service's registry name (for service-name rules and messages). */
  service: string;
  /** Dice of the percentages, returning [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * Applies fault rules to a service's own requests in an `onRequest` hook, before body parsing and
 * the handler: a delayed request waits first (and never runs when its caller gives up meanwhile:
 * `request.meshkit.signal`, when the deadline hook runs before this one), an aborted one is
 * answered without running the handler. Nothing is installed without rules.
 */
export function installServiceFaults(
  app: FastifyInstance,
  rules: readonly FaultRule[],
  options: ServiceFaultOptions,
): ServiceFaults {
  const faults = new ServiceFaults(rules, options.service, options.random);
  if (faults.rules.length === 0) return faults;
  app.log.warn({ faults: faults.rules }, 'fault injection is on: some requests will be delayed or refused');
  app.addHook('onRequest', async (request, reply) => {
    const fault = faults.decide(request.url);
    if (fault === undefined) return;
    reply.header(FAULT_HEADER, fault.header);
    if (fault.delayMs > 0) {
      // Null in an app without the deadline hook (the decorator's initial value).
      const signal = (request.meshkit as RequestDeadline | null | undefined)?.signal;
      if (!(await injectedDelay(fault.delayMs, signal))) {
        // The caller gave up (or its deadline passed) during the delay: the work never starts.
        throw signal?.reason ?? new Error('the request was given up during an injected delay');
      }
    }
    if (fault.abortStatus !== undefined) {
      request.log.debug({ status: fault.abortStatus, rule: fault.rule.prefix }, 'injected abort');
      const detail =
        `${options.service}'s fault injection answered ${fault.abortStatus} instead of running ` +
        `${request.method} ${urlPath(request.url)} (rule ${fault.rule.prefix}: abort ${fault.rule.abort?.percent ?? 0}% of requests)`;
      return sendFaultAbort(reply, fault, detail);
    }
  });
  return faults;
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
