// Cross-origin isolation, which the engine's WebAssembly threads need (SharedArrayBuffer): the preview server sends
// COOP/COEP, so a tiny run on this GPU-less machine trains on one thread a core and the Runs table says so; on a
// static host that sends no such headers (a plain file server here), the offline app's service worker adds them, so
// the page is isolated from the first reload it serves.
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { serve } from '../datasets/serve.ts';
import { openTrainWithDefaults, untilServiceWorkerControls } from './helpers.ts';

const DIST = path.resolve(import.meta.dirname, '..', 'dist');

test('the preview server isolates the page, and a run on the CPU engine trains on one thread a core', async ({ page }) => {
  test.setTimeout(300_000);
  await openTrainWithDefaults(page, 100);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  test.skip(cores < 2, 'this machine reports one core');
  await page.getByLabel('Epochs').fill('40');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByText(new RegExp(`training: .*the engine's WebAssembly path \\(.*SIMD, ${Math.min(cores, 8)} threads\\)`))).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 180_000 });
  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'tiny' });
  await expect(row).toContainText(`wasm · engine · ${Math.min(cores, 8)} threads`);
});

test.describe('on a static host without the headers', () => {
  test.use({ serviceWorkers: 'allow' });

  test('the service worker adds them: isolated from the first reload it serves', async ({ page }) => {
    test.setTimeout(180_000);
    // dist/ as a static host serves it: files and their types, without the isolation headers.
    const { server, origin } = await serve({ '/': DIST }, { isolated: false });
    try {
      await page.goto(`${origin}/`);
      await expect(page.getByRole('heading', { name: 'Doodle Lab', level: 1 })).toBeVisible();
      expect(await page.evaluate(() => crossOriginIsolated), 'the plain host sends no COOP/COEP').toBe(false);
      await untilServiceWorkerControls(page);
      await page.reload();
      await expect(page.getByRole('heading', { name: 'Doodle Lab', level: 1 })).toBeVisible();
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      // The workers the page starts come from the service worker too, with the headers their isolation needs.
      expect(await page.evaluate(() => typeof SharedArrayBuffer)).toBe('function');
    } finally {
      server.close();
    }
  });
});
