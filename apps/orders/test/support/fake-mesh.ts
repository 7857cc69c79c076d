import type { MeshError, ServiceCaller, ServiceRequest, ServiceResponse } from '@meshkit/toolkit';

/**
 * A stand-in for user-service and product-service behind a ServiceCaller: users, products with
 * stock, and reservations, honouring the APIs the orders service calls. Failures on demand: a rule
 * can reject a call with a MeshError (a network failure) or answer a status of its choice.
 */
export interface FakeProduct {
  priceCents: number;
  stock: number;
}

export interface CallRecord {
  service: string;
  method: string;
  path: string;
  body?: unknown;
  requestId?: string;
}

/**
 * `reject`: the call fails with this MeshError; `status`: it answers this instead. With
 * `afterApplying`, the fake first does what was asked (a reservation is made) and then fails:
 * the outcome a caller sees on a timeout after the work was done.
 */
type Fault = ({ reject: MeshError } | { status: number; body?: unknown }) & { afterApplying?: boolean };
interface FaultRule {
  matches(service: string, req: ServiceRequest): boolean;
  fault: Fault;
  /** Calls left to fail; Infinity for always. */
  times: number;
}

const problem = (status: number, detail: string) => ({ type: 'about:blank', title: detail, status, detail });
const RESERVATION = /^\/internal\/products\/([^/]+)\/reservations\/([^/?]+)$/;

export class FakeMesh implements ServiceCaller {
  readonly users = new Set<string>();
  readonly products = new Map<string, FakeProduct>();
  /** `${productId}/${orderId}` → quantity. */
  readonly reservations = new Map<string, number>();
  readonly calls: CallRecord[] = [];
  /** Services that cannot take a call now (every breaker open, say): `ensureAvailable` throws this. */
  readonly unavailable = new Map<string, MeshError>();
  private faults: FaultRule[] = [];
  private gates: Array<{ matches(service: string, req: ServiceRequest): boolean; until: Promise<void> }> = [];

  ensureAvailable(service: string): void {
    const refusal = this.unavailable.get(service);
    if (refusal) throw refusal;
  }

  addUser(id: string): string {
    this.users.add(id);
    return id;
  }

  addProduct(id: string, price: number, stock: number): string {
    this.products.set(id, { priceCents: Math.round(price * 100), stock });
    return id;
  }

  stockOf(productId: string): number | undefined {
    return this.products.get(productId)?.stock;
  }

  /** Makes the next `times` matching calls fail with `fault`. */
  failWhen(matches: (service: string, req: ServiceRequest) => boolean, fault: Fault, times = Number.POSITIVE_INFINITY): void {
    this.faults.push({ matches, fault, times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Holds matching calls until the returned `open()` is called: to order concurrent requests. */
  hold(matches: (service: string, req: ServiceRequest) => boolean): { open(): void; reached: Promise<void> } {
    let open!: () => void;
    let reached!: () => void;
    const until = new Promise<void>((resolve) => {
      open = resolve;
    });
    const arrived = new Promise<void>((resolve) => {
      reached = resolve;
    });
    this.gates.push({
      matches: (service, req) => {
        const hit = matches(service, req);
        if (hit) reached();
        return hit;
      },
      until,
    });
    return { open, reached: arrived };
  }

  callsTo(method: string, pathPart = ''): CallRecord[] {
    return this.calls.filter((c) => c.method === method && c.path.includes(pathPart));
  }

  async call<T = unknown>(service: string, req: ServiceRequest): Promise<ServiceResponse<T>> {
    this.calls.push({
      service,
      method: req.method,
      path: req.path,
      ...(req.body === undefined ? {} : { body: req.body }),
      ...(req.requestId === undefined ? {} : { requestId: req.requestId }),
    });
    await Promise.resolve(); // answer asynchronously, like the network
    for (const gate of this.gates) if (gate.matches(service, req)) await gate.until;
    const rule = this.faults.find((f) => f.times > 0 && f.matches(service, req));
    if (rule) {
      rule.times -= 1;
      if (rule.fault.afterApplying) this.route(service, req);
      if ('reject' in rule.fault) throw rule.fault.reject;
      return this.answer(rule.fault.status, rule.fault.body ?? problem(rule.fault.status, 'injected')) as ServiceResponse<T>;
    }
    return this.route(service, req) as ServiceResponse<T>;
  }

  private route(service: string, req: ServiceRequest): ServiceResponse {
    if (service === 'user-service' && req.method === 'GET') {
      const id = /^\/users\/([^/?]+)$/.exec(req.path)?.[1];
      if (id !== undefined) {
        return this.users.has(id) ? this.answer(200, { id, name: 'n', email: `${id}@example.com` }) : this.answer(404, problem(404, 'user not found'));
      }
    }
    const m = service === 'product-service' ? RESERVATION.exec(req.path) : null;
    if (m?.[1] && m[2]) {
      if (req.method === 'PUT') return this.reserve(m[1], m[2], (req.body as { quantity?: unknown })?.quantity);
      if (req.method === 'DELETE') return this.release(m[1], m[2]);
    }
    return this.answer(404, problem(404, `no route ${service} ${req.method} ${req.path}`));
  }

  private reserve(productId: string, orderId: string, quantity: unknown): ServiceResponse {
    if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      return this.answer(400, problem(400, 'bad quantity'));
    }
    const product = this.products.get(productId);
    if (!product) return this.answer(404, problem(404, 'product not found'));
    const key = `${productId}/${orderId}`;
    const body = { order_id: orderId, product_id: productId, quantity, unit_price: product.priceCents / 100 };
    const existing = this.reservations.get(key);
    if (existing !== undefined) {
      return existing === quantity ? this.answer(200, body) : this.answer(409, problem(409, 'conflicting reservation'));
    }
    if (product.stock < quantity) return this.answer(409, problem(409, 'insufficient stock'));
    product.stock -= quantity;
    this.reservations.set(key, quantity);
    return this.answer(201, body);
  }

  private release(productId: string, orderId: string): ServiceResponse {
    const key = `${productId}/${orderId}`;
    const quantity = this.reservations.get(key);
    const product = this.products.get(productId);
    if (quantity === undefined || !product) return this.answer(404, problem(404, 'no such reservation'));
    product.stock += quantity;
    this.reservations.delete(key);
    return this.answer(200, { order_id: orderId, product_id: productId, quantity });
  }

  private answer(status: number, body: unknown): ServiceResponse {
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    return { status, headers: { 'content-type': type }, body, instanceId: 'fake' };
  }
}
