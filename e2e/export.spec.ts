// Export with quantized weights as one .zip, on the built site: a model trained in the test, exported at
// float32 and at uint8, the uint8 .zip under a third the size, its size and test accuracy reported, and re-imported
// with the same top guess for real drawings replayed on the canvas.
import { readFileSync, statSync } from 'node:fs';
import { expect, test, type Download, type Page } from '@playwright/test';
import { HAS_SHARED, replay, settledGuesses, strokesOf, trainTinyAndPlay } from './helpers.ts';

const DRAWINGS = [['simplified', 'rainbow', 5], ['simplified', 'airplane', 3]] as const;

/** The top guess for each of DRAWINGS, once the guesses have settled. */
async function topGuesses(page: Page): Promise<string[]> {
  const items = page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
  const tops: string[] = [];
  for (const [kind, category, n] of DRAWINGS) {
    await replay(page, strokesOf(kind, category, n));
    await expect(items).toHaveCount(3);
    tops.push((await settledGuesses(page))[0]!.replace(/ \d+%$/, ''));
    await page.getByRole('button', { name: 'Clear' }).click();
  }
  return tops;
}

async function exportAs(page: Page, weights: string): Promise<{ download: Download; path: string; bytes: number }> {
  await page.getByLabel('Weights').selectOption(weights);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export model' }).click()]);
  const file = await download.path();
  await expect(page.getByTestId('export-report')).toContainText(`${weights} weights`);
  return { download, path: file, bytes: statSync(file).size };
}

test('exports uint8 weights as one .zip under a third the size, reports the accuracy change, and re-imports it with the same guesses', async ({ page }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/quickdraw for real strokes to replay');
  // Training takes about a minute alone on two cores, several when other work shares them.
  test.setTimeout(720_000);
  await trainTinyAndPlay(page, ['airplane', 'cat', 'rainbow'], 540_000);
  const fromRun = await topGuesses(page);

  await page.getByLabel('Download .zip').check();
  const float32 = await exportAs(page, 'float32');
  expect(float32.download.suggestedFilename()).toBe('doodle-lab-tiny-float32.zip');
  const uint8 = await exportAs(page, 'uint8');
  expect(uint8.download.suggestedFilename()).toBe('doodle-lab-tiny-uint8.zip');
  const report = page.getByTestId('export-report');
  await expect(report).toContainText(/uint8 weights: \d+\.\d\d MB \(−7\d %\) instead of \d+\.\d\d MB/);
  await expect(report).toContainText(/test top-1 \d+\.\d % \([−+±]\d+\.\d points from \d+\.\d %\) on \d+ drawings/);
  console.log(`float32 .zip ${float32.bytes} B, uint8 .zip ${uint8.bytes} B; ${await report.textContent()}`);
  // Weights are nearly all of an export; deflate shrinks quantized weights a little more.
  expect(uint8.bytes).toBeLessThan(float32.bytes * 0.3);

  await page.getByLabel('Model files').setInputFiles({ name: uint8.download.suggestedFilename(), mimeType: 'application/zip', buffer: readFileSync(uint8.path) });
  await expect(page.getByText(/Imported “tiny” \(Doodle Lab, 3 classes\)/)).toBeVisible();
  await expect(page.getByLabel('Model to play with')).toHaveValue(/^model:/);
  expect(await topGuesses(page)).toEqual(fromRun);
});
