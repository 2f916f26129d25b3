// Vite builds the static site; Vitest runs two projects: `unit` in Node and `browser` in real Chromium.
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { playwright } from '@vitest/browser-playwright';
import { chromiumLaunchOptions } from './tests/chromium.ts';

export default defineConfig({
  // Relative base so the same build works at a domain root and under a GitHub Pages sub-path.
  base: './',
  plugins: [svelte()],
  worker: { format: 'es' },
  // Pre-bundled up front so Vitest browser mode does not reload mid-run to optimise them.
  optimizeDeps: { include: ['comlink', 'idb', '@tensorflow-models/mobilenet'] },
  build: {
    target: 'es2022',
    sourcemap: true,
    // The app, plus the page the headless pipeline (datasets/pipeline.ts) drives.
    rollupOptions: { input: { main: 'index.html', pipeline: 'src/pipeline/pipeline.html' } },
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'pipeline',
          include: ['tests/pipeline/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          testTimeout: 120_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: chromiumLaunchOptions() }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
