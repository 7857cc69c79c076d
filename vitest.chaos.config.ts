import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * `npm run chaos`: the chaos suite (test/chaos/*.chaos.ts), never part of `npm test`. Each file
 * runs its own redis-server and `meshkit cluster` under a steady load, so files run one at a time;
 * the global teardown writes the figures to test/artifacts/chaos.md.
 */
export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources; spawned processes run the built dist/.
    alias: {
      '@meshkit/toolkit': src('./packages/toolkit/src/index.ts'),
      '@meshkit/users': src('./apps/users/src/index.ts'),
      '@meshkit/products': src('./apps/products/src/index.ts'),
      '@meshkit/orders': src('./apps/orders/src/index.ts'),
      '@meshkit/gateway': src('./apps/gateway/src/index.ts'),
    },
  },
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    globalSetup: ['test/chaos/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    pool: 'forks',
  },
});
