import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources; spawned processes run the built dist/.
    alias: {
      // First: the root's key also matches as a prefix, so it would take `@meshkit/toolkit/core` too.
      '@meshkit/toolkit/core': src('./packages/toolkit/src/core.ts'),
      '@meshkit/toolkit': src('./packages/toolkit/src/index.ts'),
      '@meshkit/users': src('./apps/users/src/index.ts'),
      '@meshkit/products': src('./apps/products/src/index.ts'),
      '@meshkit/orders': src('./apps/orders/src/index.ts'),
      '@meshkit/gateway': src('./apps/gateway/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
