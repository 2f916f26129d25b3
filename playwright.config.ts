// Playwright e2e: the built site (vite preview of dist/), driven through roles and labels in Chromium.
import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './tests/chromium.ts';

// E2E_PORT lets two checkouts run their e2e suites side by side.
const PORT = Number(process.env['E2E_PORT'] ?? 4173);

export default defineConfig({
  testDir: 'e2e',
  timeout: 120_000,
  // The whole suite takes 5–8 minutes here; past 40 something hangs, and the run stops with each test's state
  // reported instead of holding CI until its own limit.
  globalTimeout: 40 * 60_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: process.env['CI'] ? [['list']] : [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}/`,
    browserName: 'chromium',
    launchOptions: chromiumLaunchOptions(),
    trace: 'retain-on-failure',
    // Requests a service worker answers bypass page.route, which the error and download specs use to fake server
    // failures; only e2e/offline.spec.ts lets the app's service worker run.
    serviceWorkers: 'block',
  },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: !process.env['CI'],
    timeout: 60_000,
  },
});
