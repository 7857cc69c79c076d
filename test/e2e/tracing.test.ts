import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlp-receiver.js';
import { type Shop, startShop } from '../support/shop.js';

/**
 * Traces through the whole one-process shop, exported over OTLP/HTTP to a receiver of our own:
 * one `POST /orders` is one trace, gateway → orders → users and products, every span parented on
 * the one that caused it and named after its service.
 */
const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_PARENT_ID = 'b7ad6b7169203331';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function shopWith(env: Record<string, string>): Promise<{ shop: Shop; stop: () => Promise<void> }> {
  const shop = await startShop({ env });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= shop.stop(true);
    return stopped;
  };
  cleanups.push(stop);
  return { shop, stop };
}

/** A user and two products, then one order of both; the order's reply. */
async function placeOrder(shop: Shop, headers: Record<string, string> = {}) {
  const user = await shop.call('POST', '/users', { name: 'Ada', email: `ada.${randomUUID().slice(0, 8)}@example.com` });
  const a = await shop.call('POST', '/products', { name: 'Laptop', price: 999.99, stock: 5 });
  const b = await shop.call('POST', '/products', { name: 'Mouse', price: 19.5, stock: 5 });
  expect([user.status, a.status, b.status]).toEqual([201, 201, 201]);
  const order = await shop.call(
    'POST',
    '/orders',
    {
      user_id: user.body.id,
      items: [
        { product_id: a.body.id, quantity: 1 },
        { product_id: b.body.id, quantity: 2 },
      ],
    },
    headers,
  );
  expect(order.status, JSON.stringify(order.body)).toBe(201);
  return order;
}

function childrenOf(spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((s) => s.parentSpanId === parent.spanId);
}

function onlyChild(spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan {
  const children = childrenOf(spans, parent);
  expect(children, `children of ${parent.service} ${parent.name}`).toHaveLength(1);
  return children[0] as ReceivedSpan;
}

/**
 * Checks the trace of one `POST /orders` from the gateway's SERVER span down, and that it holds
 * nothing else.
 */
function expectOrderTrace(all: ReceivedSpan[], gatewayServer: ReceivedSpan, requestId: string): void {
  const trace = all.filter((s) => s.traceId === gatewayServer.traceId);
  expect(gatewayServer).toMatchObject({ service: 'api-gateway', kind: 'server', status: 'unset' });
  expect(gatewayServer.attributes).toMatchObject({
    'http.request.method': 'POST',
    'http.route': '/orders',
    'url.path': '/orders',
    'http.response.status_code': 201,
  });

  const gatewayClient = onlyChild(trace, gatewayServer);
  expect(gatewayClient).toMatchObject({ service: 'api-gateway', kind: 'client', name: 'POST order-service' });
  expect(gatewayClient.attributes).toMatchObject({
    'peer.service': 'order-service',
    'server.address': '127.0.0.1',
    'http.response.status_code': 201,
    'meshkit.attempt': 1,
  });

  const ordersServer = onlyChild(trace, gatewayClient);
  expect(ordersServer).toMatchObject({ service: 'order-service', kind: 'server', name: 'POST /orders' });
  expect(ordersServer.attributes['meshkit.instance']).toBe(gatewayClient.attributes['meshkit.instance']);

  const ordersClients = childrenOf(trace, ordersServer);
  expect(ordersClients.map((s) => `${s.service} ${s.kind} ${s.name}`).sort()).toEqual([
    'order-service client GET user-service',
    'order-service client PUT product-service',
    'order-service client PUT product-service',
  ]);
  const downstream = ordersClients.map((client) => {
    const server = onlyChild(trace, client);
    expect(server.kind).toBe('server');
    expect(server.attributes['meshkit.instance']).toBe(client.attributes['meshkit.instance']);
    expect(childrenOf(trace, server)).toEqual([]);
    return `${server.service} ${server.name} ${server.attributes['http.response.status_code']}`;
  });
  expect(downstream.sort()).toEqual([
    'product-service PUT /internal/products/:product_id/reservations/:order_id 201',
    'product-service PUT /internal/products/:product_id/reservations/:order_id 201',
    'user-service GET /users/:id 200',
  ]);

  // Nothing else in the trace, and one request id across it.
  expect(trace).toHaveLength(9);
  for (const server of trace.filter((s) => s.kind === 'server')) {
    expect(server.attributes['meshkit.request_id']).toBe(requestId);
  }
}

describe('tracing through the shop', () => {
  it('makes one POST /orders one trace, rooted at the gateway or under the client’s traceparent', async () => {
    const receiver: OtlpReceiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const { shop, stop } = await shopWith({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });

    const rooted = await placeOrder(shop);
    const continued = await placeOrder(shop, {
      traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_PARENT_ID}-01`,
      tracestate: 'shop=1',
    });
    await stop(); // flushes the spans still buffered
    expect(receiver.refused).toEqual([]);
    const all = receiver.spans;

    const gatewayServers = all.filter((s) => s.service === 'api-gateway' && s.kind === 'server');
    const gatewayOrders = gatewayServers.filter((s) => s.name === 'POST /orders');
    expect(gatewayOrders).toHaveLength(2);
    const root = gatewayOrders.find((s) => s.parentSpanId === undefined);
    const child = gatewayOrders.find((s) => s.parentSpanId === CLIENT_PARENT_ID);
    expect(root).toBeDefined();
    expect(child?.traceId).toBe(CLIENT_TRACE_ID);
    expect(root?.traceId).not.toBe(CLIENT_TRACE_ID);
    expectOrderTrace(all, root as ReceivedSpan, String(rooted.headers['x-request-id']));
    expectOrderTrace(all, child as ReceivedSpan, String(continued.headers['x-request-id']));

    // The setup requests are traces of their own, each rooted at the gateway.
    const traces = new Set(all.map((s) => s.traceId));
    expect(traces.size).toBe(2 * 4);
    for (const s of gatewayServers.filter((x) => x !== child)) expect(s.parentSpanId).toBeUndefined();
  });

  it('names every span after OTEL_SERVICE_NAME when it is set, the part still an attribute', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const { shop, stop } = await shopWith({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'shop-a' });
    await placeOrder(shop);
    await stop();
    expect(receiver.spans.length).toBeGreaterThan(0);
    expect(new Set(receiver.spans.map((s) => s.service))).toEqual(new Set(['shop-a']));
    const parts = receiver.spans.filter((s) => s.kind === 'server').map((s) => s.attributes['meshkit.service']);
    expect(new Set(parts)).toEqual(new Set(['api-gateway', 'order-service', 'user-service', 'product-service']));
  });

  it('sends nothing without OTEL_EXPORTER_OTLP_ENDPOINT, and the request path works as before', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    // Only the shop's configuration turns tracing on: the process's own variables do not.
    const before = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    cleanups.push(async () => {
      if (before === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = before;
    });
    const { shop, stop } = await shopWith({});
    const order = await placeOrder(shop, { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_PARENT_ID}-01` });
    expect(order.body).toMatchObject({ status: 'pending', total: 1038.99 });
    await stop();
    expect(receiver.spans).toEqual([]);
    expect(receiver.refused).toEqual([]);
  });
});
