import {
  checkFaultRules,
  ConfigError,
  type FaultRule,
  type InjectedFault,
  isPathRule,
  parseFaultRules as parseRules,
  pathUnderPrefix,
  rollFault,
  sendFaultAbort,
} from '@meshkit/toolkit/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Route } from './route-table.js';

// The rules, their parsing and the dice are the toolkit's (services inject faults too); what is
// the gateway's own is matching them to its routes and services, and `GET /faults`.
export {
  checkFaultRules,
  FAULT_HEADER,
  type FaultRule,
  type InjectedFault,
  INJECTED_FAULT_TYPE,
} from '@meshkit/toolkit/core';

/**
 * The rules in `GATEWAY_FAULTS` (raw JSON), or in the variable named. Unset or blank: no rules.
 * Anything else that is not a valid list of rules throws a one-line ConfigError naming the variable.
 */
export function parseFaultRules(json: string | undefined, variable = 'GATEWAY_FAULTS'): FaultRule[] {
  return parseRules(json, variable);
}

/**
 * Picks the rule of a request and rolls its dice, as Istio's VirtualService `fault` does by route.
 * A path rule wins over a service rule, the longest path prefix over shorter ones.
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
        throw new ConfigError(
          `fault rule ${JSON.stringify(rule.prefix)} matches no gateway route; routes: ${known || 'none'}`,
        );
      }
      if (!isPathRule(rule)) this.byService.set(rule.prefix, rule);
    }
    this.byPath = this.rules.filter(isPathRule).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** True when any rule is configured. */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** The faults to inject into a request for `path` (with its query) routed to `service`, if any. */
  decide(path: string, service: string): InjectedFault | undefined {
    const rule = this.byPath.find((r) => pathUnderPrefix(path, r.prefix)) ?? this.byService.get(service);
    return rule === undefined ? undefined : rollFault(rule, this.random);
  }
}

/** The answer to an aborted request: problem+json of the rule's status, saying who made it. */
export function sendInjectedAbort(reply: FastifyReply, fault: InjectedFault, service: string): FastifyReply {
  const status = fault.abortStatus ?? 500;
  const detail =
    `The gateway's fault injection answered ${status} instead of calling ${service} ` +
    `(rule ${fault.rule.prefix}: abort ${fault.rule.abort?.percent ?? 0}% of requests)`;
  return sendFaultAbort(reply, fault, detail);
}

/** `GET /faults`: the active rules, read-only, in the shape `GATEWAY_FAULTS` takes. */
export function faultsRoute(app: FastifyInstance, injector: FaultInjector): void {
  app.get('/faults', async () => ({ rules: injector.rules }));
}

/** Whether some request routed by `route` can match `rule`. */
function reaches(rule: FaultRule, route: Route): boolean {
  if (!isPathRule(rule)) return rule.prefix === route.service;
  return pathUnderPrefix(rule.prefix, route.prefix) || pathUnderPrefix(route.prefix, rule.prefix);
}
