// The small things a newcomer noticed, on the built site: "1 file skipped" in the right number, a favicon, two runs
// of one preset told apart, curves with axes and epoch ticks, "Loading runs…" rather than "No runs yet." while the
// trainer worker starts, and imported models that get names of their own and can be deleted.
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { HAS_SHARED, makeNpy, openFresh, openPage, openTrainWithDefaults, SHARED_DIR } from './helpers.ts';

test('an import with one bad file says "1 file skipped", and the page has a favicon', async ({ page }) => {
  await openFresh(page);
  await page.getByLabel('Import files').setInputFiles([
    { name: 'zigzag.npy', mimeType: 'application/octet-stream', buffer: makeNpy(3) },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a drawing') },
  ]);
  await expect(page.getByText('Import finished: 3 drawings stored, 1 file skipped')).toBeVisible();
  const favicon = await page.evaluate(async () => {
    const href = document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href;
    return href === undefined ? null : { ok: (await fetch(href)).ok, href };
  });
  expect(favicon?.ok, JSON.stringify(favicon)).toBe(true);
});

async function trainTiny(page: Page): Promise<void> {
  await page.getByLabel('Preset').selectOption('tiny');
  await page.getByRole('spinbutton', { name: 'Epochs' }).fill('3');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 240_000 });
}

test('two runs of one preset get distinct names; curves have axes and epoch ticks; imports are named apart and can be deleted', async ({ page }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/models for a Teachable Machine export to import');
  test.setTimeout(480_000);
  await openTrainWithDefaults(page, 100);
  await trainTiny(page);
  const loss = page.getByRole('region', { name: 'Fine-tune MobileNet' }).getByRole('figure', { name: 'Loss curve: 3 epochs' });
  for (const label of ['epoch', '1', '2', '3', '0']) await expect(loss.locator('text', { hasText: new RegExp(`^${label}$`) })).toHaveCount(1);
  await trainTiny(page);
  const runs = page.getByRole('table', { name: 'Runs' });
  // The name cell holds the run's name above its date ("tiny 2" then "11/30/2026, …").
  await expect(runs.getByRole('cell', { name: /^tiny 2 \d+\/\d+\/\d+/ })).toHaveCount(1);
  await expect(runs.getByRole('cell', { name: /^tiny \d+\/\d+\/\d+/ })).toHaveCount(1);

  // While the trainer worker starts (slowly here, on purpose), the table says it is loading, not that there are no runs.
  await page.route('**/assets/trainer.worker-*.js', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await route.continue();
  });
  await page.reload();
  await openPage(page, 'Train');
  await expect(page.getByText('Loading runs…')).toBeVisible();
  await expect(page.getByText('No runs yet.')).toHaveCount(0);
  await expect(runs.getByRole('cell', { name: /^tiny 2 \d+\/\d+\/\d+/ })).toHaveCount(1);
  await page.unroute('**/assets/trainer.worker-*.js');

  await openPage(page, 'Play');
  const tm = path.join(SHARED_DIR, 'models', 'teachable-machine-mobilenet_v2_0.35_224');
  const files = ['model.json', 'weights.bin', 'metadata.json'].map((f) => path.join(tm, f));
  await page.getByLabel('Model files').setInputFiles(files);
  await expect(page.getByText(/Imported “tm-my-image-model” \(Teachable Machine, 10 classes\)/)).toBeVisible({ timeout: 60_000 });
  await page.getByLabel('Model files').setInputFiles(files);
  await expect(page.getByText(/Imported “tm-my-image-model 2” \(Teachable Machine, 10 classes\)/)).toBeVisible({ timeout: 60_000 });
  const select = page.getByLabel('Model to play with');
  await expect(select.locator('option', { hasText: /^tm-my-image-model 2 ·/ })).toHaveCount(1);
  await page.getByRole('button', { name: 'Delete imported model' }).click();
  await expect(select.locator('option', { hasText: /^tm-my-image-model 2 ·/ })).toHaveCount(0);
  await expect(select.locator('option', { hasText: /^tm-my-image-model ·/ })).toHaveCount(1);
  await page.reload();
  await openPage(page, 'Play');
  await expect(page.getByLabel('Model to play with').locator('option', { hasText: /^tm-my-image-model/ })).toHaveCount(1);
});
