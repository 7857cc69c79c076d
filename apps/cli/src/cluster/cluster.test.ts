import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { announcedUrl, clusterSpecs, describeEvent, formatClusterTable, MESHKIT_BIN } from './cluster.js';

describe('clusterSpecs', () => {
  it('runs one gateway and each replica as `node <bin> run <part>`, services on PORT=0', () => {
    const specs = clusterSpecs({ users: 1, products: 3, orders: 2 }, { REDIS_URL: 'redis://r', PORT: '9999' }, '/bin.js');
    expect(specs.map((s) => s.label)).toEqual([
      'gateway#1',
      'users#1',
      'products#1',
      'products#2',
      'products#3',
      'orders#1',
      'orders#2',
    ]);
    const gateway = specs[0];
    const products = specs[3];
    expect(gateway?.args).toEqual(['/bin.js', 'run', 'gateway']);
    expect(gateway?.command).toBe(process.execPath);
    expect(gateway?.env).toEqual({ REDIS_URL: 'redis://r', PORT: '9999' });
    expect(products?.args).toEqual(['/bin.js', 'run', 'products']);
    expect(products?.env).toEqual({ REDIS_URL: 'redis://r', PORT: '0' });
  });

  it('stops the gateway first, then orders, then users and products', () => {
    const waves = Object.fromEntries(
      clusterSpecs({ users: 1, products: 1, orders: 1 }, {}).map((s) => [s.label, s.stopWave]),
    );
    expect(waves['gateway#1']).toBeLessThan(waves['orders#1'] ?? -1);
    expect(waves['orders#1']).toBeLessThan(waves['users#1'] ?? -1);
    expect(waves['users#1']).toBe(waves['products#1']);
  });

  it('points at the committed launcher', () => {
    expect(MESHKIT_BIN.endsWith('apps/cli/bin/meshkit.js')).toBe(true);
    expect(existsSync(MESHKIT_BIN)).toBe(true);
  });
});

describe('announcedUrl', () => {
  it("reads `run`'s `<part> <url>` line for that part only", () => {
    expect(announcedUrl('products', 'products http://127.0.0.1:40123')).toBe('http://127.0.0.1:40123');
    expect(announcedUrl('gateway', 'gateway  http://[::1]:8000')).toBe('http://[::1]:8000');
    expect(announcedUrl('users', 'products http://127.0.0.1:40123')).toBeUndefined();
    expect(announcedUrl('users', '{"msg":"Server listening at http://127.0.0.1:1"}')).toBeUndefined();
    expect(announcedUrl('users', 'users started at http://127.0.0.1:1')).toBeUndefined();
  });
});

describe('formatClusterTable', () => {
  it('shows service, replica, pid and url in aligned columns', () => {
    const table = formatClusterTable([
      { label: 'gateway#1', pid: 100, url: 'http://127.0.0.1:8000', restarts: 0 },
      { label: 'products#12', pid: 12345, url: undefined, restarts: 0 },
    ]);
    expect(table.split('\n')).toEqual([
      'SERVICE   REPLICA  PID    URL',
      'gateway   1        100    http://127.0.0.1:8000',
      'products  12       12345  -',
    ]);
  });
});

describe('describeEvent', () => {
  it('names the child, its old pid, how it ended and the delay', () => {
    expect(
      describeEvent({ type: 'exited', label: 'products#2', pid: 42, code: null, signal: 'SIGKILL', restartInMs: 500 }),
    ).toBe('products#2 (pid 42) was killed by SIGKILL; restarting in 500 ms');
    expect(describeEvent({ type: 'exited', label: 'users#1', pid: 7, code: 1, signal: null, restartInMs: 250 })).toBe(
      'users#1 (pid 7) exited with code 1; restarting in 250 ms',
    );
    expect(describeEvent({ type: 'up', label: 'users#1', pid: 8, url: 'http://h:1', restarts: 1 })).toBe(
      'users#1 restarted: pid 8 at http://h:1',
    );
    expect(describeEvent({ type: 'up', label: 'users#1', pid: 8, url: 'http://h:1', restarts: 0 })).toBeUndefined();
  });
});
