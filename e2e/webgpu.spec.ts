// WebGPU chosen by hand, through the UI of the built site: the run trains on the fused engine (here on SwiftShader's
// WebGPU, the software adapter Chromium has on a machine without a GPU), says so, resumes on it from its checkpoint
// after a reload, lists itself as an engine run, and its model plays and exports like any other.
import { expect, test } from '@playwright/test';
import { HAS_SHARED, openPage, openTrainWithDefaults, replay, settledGuesses, strokesOf } from './helpers.ts';

const ENGINE = /training: .*the fused WebGPU engine \(\d+ layers/;

test('WebGPU chosen by hand trains the whole network on the fused engine, resumes on it after a reload, and the model plays and exports', async ({ page }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/quickdraw for real strokes to replay');
  test.setTimeout(480_000);
  await openTrainWithDefaults(page, 100);
  await page.getByRole('combobox', { name: 'Mode', exact: true }).selectOption('whole');
  await page.getByRole('combobox', { name: 'Backend', exact: true }).selectOption('webgpu');
  // A whole-network epoch of the tiny preset takes a few seconds on SwiftShader, so the run is still going when
  // the test reloads it after the first checkpoint.
  await page.getByLabel('Epochs').fill('12');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByText(ENGINE)).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText(/Checkpoint: after epoch \d+/)).toBeVisible({ timeout: 120_000 });

  await page.reload();
  await expect(page.getByText(/was interrupted after \d+ of 12 epochs/)).toBeVisible();
  await page.getByRole('button', { name: 'Resume from checkpoint' }).click();
  // The resumed run is on the engine again (its "resumed at" line lasts only until the next checkpoint, seconds here).
  await expect(page.getByText(ENGINE)).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 300_000 });

  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'tiny' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('12/12 ep');
  await expect(row).toContainText('webgpu · engine');
  await expect(row).toContainText(/\d+\.\d %/);

  await openPage(page, 'Play');
  await page.getByLabel('Model to play with').selectOption({ index: 1 });
  await replay(page, strokesOf('simplified', 'rainbow', 5));
  const guesses = await settledGuesses(page);
  expect(guesses).toHaveLength(3);
  expect(guesses.map((g) => g.replace(/ \d+%$/, '')).sort()).toEqual(['airplane', 'cat', 'rainbow']);

  await page.getByLabel('Download .zip').check();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export model' }).click()]);
  expect(download.suggestedFilename()).toBe('doodle-lab-tiny-float32.zip');
  await expect(page.getByTestId('export-report')).toContainText('float32 weights');
});
