import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { loadConfig } from '@meshkit/toolkit';
import { type System, startSystem } from '../../apps/cli/src/launcher.js';
import { partNames } from '../../apps/cli/src/parts.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A whole shop in this process on free ports, with its own data folder. */
export interface Shop {
  url: string;
  dataDir: string;
  system: System;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** Stops the shop; keeps the data folder unless `removeData`. */
  stop(removeData?: boolean): Promise<void>;
}

export async function startShop(options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<Shop> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'meshkit-shop-'));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...options.env });
  const system = await startSystem([...partNames], { gateway: 0, users: 0, orders: 0, products: 0 }, config);
  const gateway = system.parts.find((p) => p.name === 'gateway');
  if (!gateway) throw new Error('no gateway started');
  const url = gateway.url;
  return {
    url,
    dataDir,
    system,
    call: (method, path, body, headers = {}) => send(url, method, path, body, headers),
    async stop(removeData = false) {
      await system.stop();
      if (removeData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One HTTP request; an object body is sent as JSON, a string as it is. */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const isText = typeof body === 'string' || Buffer.isBuffer(body);
  const res = await request(new URL(path, baseUrl), {
    method: method as 'GET',
    headers: body === undefined || isText ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : isText ? (body as string) : JSON.stringify(body),
  });
  const text = await res.body.text();
  const type = String(res.headers['content-type'] ?? '');
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text && type.includes('json') ? JSON.parse(text) : text,
  };
}
