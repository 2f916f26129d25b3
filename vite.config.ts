// Vite builds the static site; Vitest runs `unit`, `pipeline` and `scale` in Node and `browser` in real Chromium.
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { playwright } from '@vitest/browser-playwright';
import { SERVED_BACKBONES } from './src/core/training/backbones.ts';
import { ISOLATION_HEADERS } from './src/core/training/isolation.ts';
import { chromiumLaunchOptions } from './tests/chromium.ts';

/** The backbones this site serves beyond the one it ships with (backbones.ts): downloaded on first use, not precached. */
const WIDER_SERVED = SERVED_BACKBONES.slice(1).map((b) => b.dir);

export default defineConfig({
  // Relative base so the same build works at a domain root and under a GitHub Pages sub-path.
  base: './',
  plugins: [
    svelte(),
    // The offline app: a Workbox service worker precaches everything a reload needs (see README "Offline and install").
    VitePWA({
      strategies: 'generateSW',
      // 'prompt', not 'autoUpdate': an update that took over by itself would reload the page mid-training or
      // mid-download, and would drop the old version's precache while this page may still lazy-load from it.
      registerType: 'prompt',
      // src/main.ts registers through virtual:pwa-register, so the plugin injects no script into any page.
      injectRegister: false,
      // The manifest is public/manifest.webmanifest, linked from index.html only: the plugin would add its link to
      // every page, and its relative href breaks on the pipeline page (src/pipeline/pipeline.html).
      manifest: false,
      workbox: {
        globPatterns: ['**/*.{html,js,css,wasm,svg,png,webmanifest}', 'assets/models/**/*'],
        // The served Quick, Draw! shards stay online-only (downloaded drawings live in IndexedDB anyway); the
        // pipeline page is for headless runs, not the offline app.
        // The wider backbones (10 MB and more) wait for the form's choice.
        globIgnores: ['assets/data/**', 'src/pipeline/**', 'assets/pipeline-*.js', ...WIDER_SERVED.map((dir) => `assets/models/${dir}/**`)],
        // Only Vite's hashed files skip revisioning. The plugin's default (all of assets/) would also cover the
        // unhashed model files under assets/models, so a changed model.json would never reach an installed app.
        dontCacheBustURLsMatching: /^assets\/[^/]+-[\w-]{8}\.\w+$/,
        // The trainer and inference worker bundles (tfjs and its backends) are ~2.5–2.8 MB each.
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        // The first visit is controlled at once, so workers and weights it loads later already come from the cache.
        clientsClaim: true,
        navigateFallback: 'index.html',
        // Adds the cross-origin isolation headers to what the worker serves (public/coi-headers.js).
        importScripts: ['coi-headers.js'],
        navigateFallbackDenylist: [/\/src\/pipeline\//],
        runtimeCaching: [{
          // The served catalog: fresh when online, the last copy offline so the Data page still lists categories.
          urlPattern: ({ url }) => url.pathname.endsWith('/assets/data/quickdraw/manifest.json'),
          handler: 'NetworkFirst',
          options: { cacheName: 'dataset-catalog', networkTimeoutSeconds: 10, expiration: { maxEntries: 1 } },
        }, {
          // The backbones the form offers from Google's storage (src/core/training/backbones.ts): downloaded once, then kept.
          urlPattern: ({ url }) => url.origin === 'https://storage.googleapis.com' && /^\/(tfjs-models|teachable-machine-models)\//.test(url.pathname),
          handler: 'CacheFirst',
          options: { cacheName: 'backbones', cacheableResponse: { statuses: [200] } },
        }, {
          // The same for those this site serves beyond the precached one. A RegExp, not a function: Workbox writes
          // the pattern into the service worker as source, where this file's variables do not exist.
          urlPattern: new RegExp(`/assets/models/(${WIDER_SERVED.map((dir) => dir.replace(/\./g, '\\.')).join('|')})/`),
          handler: 'CacheFirst',
          options: { cacheName: 'backbones', cacheableResponse: { statuses: [200] } },
        }],
      },
    }),
  ],
  worker: { format: 'es' },
  // The engine's MobileNet v2 browser tests read the Teachable Machine export from ../shared where it exists
  // (Vitest's commands.readFile reads only what the dev server may serve); they skip where it does not. Vitest
  // takes this from the root config only, not from a project's.
  // Cross-origin isolation (the engine's WebAssembly threads) for the dev server, Vitest's browser pages and preview.
  server: { headers: ISOLATION_HEADERS, fs: { allow: [import.meta.dirname, path.resolve(import.meta.dirname, '..', 'shared')] } },
  preview: { headers: ISOLATION_HEADERS },
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
          // The PyTorch cluster trainer's round trip (scale/): needs Debian's python3-torch.
          name: 'scale',
          include: ['tests/scale/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
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
