import { request } from 'undici';

/** The seed's `test_services` flow, step by step, against a running gateway. */
export async function runDemo(baseUrl: string, print: (line: string) => void = console.log): Promise<void> {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(new URL(path, baseUrl), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    const json = text ? JSON.parse(text) : undefined;
    if (res.statusCode >= 400) {
      throw new Error(`${method} ${path} answered ${res.statusCode}: ${text}`);
    }
    return json;
  };

  // A fresh email each run: emails are unique, and the demo should work more than once.
  const email = `john+${Date.now().toString(36)}@example.com`;
  const user = await call('POST', '/users', { name: 'John Doe', email });
  print(`Created user: ${JSON.stringify(user)}`);
  const product = await call('POST', '/products', { name: 'Laptop', price: 999.99, stock: 10 });
  print(`Created product: ${JSON.stringify(product)}`);
  const order = await call('POST', '/orders', {
    user_id: user.id,
    items: [{ product_id: product.id, quantity: 1 }],
    total: 999.99,
  });
  print(`Created order: ${JSON.stringify(order)}`);
  const orders = await call('GET', `/orders/user/${user.id}`);
  print(`User orders: ${JSON.stringify(orders)}`);
  const after = await call('GET', `/products/${product.id}`);
  print(`Product stock after the order: ${after.stock}`);
}
