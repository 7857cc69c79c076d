import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The dashboard UI, built into apps/gateway/dist-dashboard/, which the gateway serves at /dashboard. */
export default defineConfig({
  root: here('.'),
  base: '/dashboard/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: here('../dist-dashboard'),
    emptyOutDir: true,
    // The gateway serves two files; nothing is gained from splitting or inlining.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
