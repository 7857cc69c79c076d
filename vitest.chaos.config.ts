import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run chaos`: the chaos suite (test/chaos/*.chaos.ts), never part of `npm test`. Each file
 * runs its own redis-server and `meshkit cluster` under a steady load, so files run one at a time;
 * the global teardown writes the figures to test/artifacts/chaos.md. Aliases come from the base.
 */
export default defineConfig({
  resolve: base.resolve,
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
