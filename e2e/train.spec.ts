// Training through the UI on the built site: a tiny run on real downloaded drawings, live curves, pause and
// resume, a reload mid-training that resumes from the checkpoint, and the runs table.
import { expect, test } from '@playwright/test';
import { openTrainWithDefaults } from './helpers.ts';

test('trains a tiny model, survives a reload mid-run, and lists the run', async ({ page }) => {
  test.setTimeout(300_000);
  await openTrainWithDefaults(page, 100);
  // Enough epochs that the run is still going when the test pauses and reloads it: "auto" trains on WASM on a
  // machine without a GPU, at about 0.2 s an epoch of this tiny run (30 epochs were over in 6 s).
  await page.getByLabel('Epochs').fill('150');
  await page.getByRole('button', { name: 'Train' }).click();

  await expect(page.getByTestId('backend')).toContainText(/WebGPU|WebGL|WASM|CPU/);
  await expect(page.getByText(/Checkpoint: after epoch \d+/)).toBeVisible({ timeout: 120_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('paused');
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await expect(page.getByRole('figure', { name: /^Loss curve: [1-9]\d* epochs/ })).toBeVisible();

  await page.reload();
  await expect(page.getByText(/was interrupted after \d+ of 150 epochs/)).toBeVisible();
  await page.getByRole('button', { name: 'Resume from checkpoint' }).click();
  await expect(page.getByText(/Checkpoint: resumed at epoch [2-9]|Checkpoint: resumed at epoch [1-9]\d/)).toBeVisible();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 180_000 });
  await expect(page.getByRole('figure', { name: 'Loss curve: 150 epochs' }).first()).toBeVisible();

  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'tiny' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('done');
  await expect(row).toContainText('150/150 ep');
  await expect(row).toContainText(/\d+\.\d %/);

  // The evaluation on the held-out test split: per-class metrics and a confusion matrix over every class.
  await row.getByRole('button', { name: 'Evaluation' }).click();
  await expect(page.getByRole('table', { name: 'Per-class metrics' }).getByRole('row')).toHaveCount(4);
  const matrix = page.getByRole('table', { name: 'Confusion matrix' });
  await expect(matrix.getByRole('row')).toHaveCount(4);
  const cells = await matrix.locator('tbody td').allTextContents();
  const testCount = Number((await page.getByText(/On \d+ test drawings/).textContent())?.match(/On (\d+)/)?.[1]);
  expect(cells.map(Number).reduce((a, b) => a + b, 0)).toBe(testCount);
});

test("trains Teachable Machine's MobileNetV2, chosen in the form, on the engine and lists the run", async ({ page }) => {
  test.setTimeout(300_000);
  await openTrainWithDefaults(page, 100);
  // The site serves this backbone (npm run assets: from ../shared offline); the form says what it costs.
  await page.getByRole('combobox', { name: 'Model', exact: true }).selectOption({ label: 'MobileNetV2 α=0.35' });
  await expect(page.getByText(/1\.6 MB; a training step takes about 1\.4× as long as with α=0\.25/)).toBeVisible();
  await expect(page.getByRole('textbox', { name: 'Model URL' })).toHaveValue('assets/models/mobilenet_v2_0.35_224/model.json');
  await page.getByRole('combobox', { name: 'Mode', exact: true }).selectOption('whole');
  await page.getByLabel('Epochs').fill('2');
  await page.getByRole('button', { name: 'Train' }).click();
  // Without a hardware GPU "auto" trains on WASM, and there the engine's CPU path takes v2's steps, not tfjs.
  await expect(page.getByText(/training: .*the engine's WebAssembly path \(\d+ layers, SIMD/)).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 240_000 });
  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'MobileNetV2' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('2/2 ep');
  await expect(row).toContainText('wasm · engine');
});
