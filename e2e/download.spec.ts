// The download flow on the built site: default selection, progress bars, reload mid-way, resume, exact counts.
import { expect, test } from '@playwright/test';
import { choosePerCategory, openFresh } from './helpers.ts';

const DEFAULT = ['airplane', 'banana', 'bird', 'book', 'cat', 'clock', 'dog', 'flower', 'house', 'rainbow'];

test('downloads the default dataset, resumes after a reload mid-way, and stores exact counts', async ({ page }) => {
  await openFresh(page);
  // Slow each shard a little so that the reload lands mid-way deterministically.
  await page.route('**/shards/*.qds', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 250));
    await route.continue();
  });
  for (const name of DEFAULT) await expect(page.getByRole('checkbox', { name: new RegExp(`^${name} (\\d|not served)`) })).toBeChecked();
  await choosePerCategory(page, 3000);
  await page.getByRole('button', { name: 'Download' }).click();

  const overall = page.getByRole('progressbar', { name: 'Overall download progress' });
  await expect(overall).toBeVisible();
  await expect(page.getByRole('progressbar', { name: 'cat download progress' })).toBeVisible();
  // Wait until some but not all shards are stored, then reload.
  await expect.poll(async () => Number(await overall.getAttribute('value'))).toBeGreaterThanOrEqual(3000);
  expect(Number(await overall.getAttribute('value'))).toBeLessThan(30_000);
  await page.reload();

  await expect(page.getByText('Resuming download')).toBeVisible();
  await expect(page.getByText('Download complete')).toBeVisible({ timeout: 90_000 });
  await expect(page.getByTestId('stored-count')).toHaveText('30,000');
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('30,000 drawings');
  const table = page.getByRole('article', { name: /Dataset/ }).filter({ hasText: 'airplane' });
  for (const name of DEFAULT) {
    await expect(table.getByRole('row', { name: new RegExp(`^${name} 3,000`) })).toBeVisible();
  }

  // Reload once more: nothing is lost, nothing is duplicated, and no download restarts.
  await page.reload();
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('30,000 drawings');
  await expect(page.getByText('Resuming download')).toHaveCount(0);

  // Browse stored drawings.
  await table.getByRole('button', { name: 'Browse cat' }).click();
  await expect(page.getByRole('list', { name: 'Drawings of cat' }).locator('canvas')).toHaveCount(96);
  await expect(page.getByText('drawings 1–96 of 3,000')).toBeVisible();

  // Delete the dataset.
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Delete dataset' }).click();
  await expect(page.getByText('Nothing stored yet.')).toBeVisible();
});

test('cancel stops the download and keeps what was stored', async ({ page }) => {
  await openFresh(page);
  await page.route('**/shards/*.qds', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await route.continue();
  });
  await choosePerCategory(page, 1000);
  await page.getByRole('button', { name: 'Download' }).click();
  const overall = page.getByRole('progressbar', { name: 'Overall download progress' });
  await expect.poll(async () => Number(await overall.getAttribute('value'))).toBeGreaterThanOrEqual(1000);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByText('Download cancelled')).toBeVisible();
  const stored = Number(await overall.getAttribute('value'));
  expect(stored).toBeLessThan(10_000);
  expect(stored % 1000).toBe(0);
  await page.reload();
  await expect(page.getByText('Resuming download')).toHaveCount(0);
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText(`${stored.toLocaleString('en-US')} drawings`);
});

test('a Download pressed while the page is still loading runs once, to the end', async ({ page }) => {
  await openFresh(page);
  // The data worker starts slowly (a cold cache, a slow disk): the catalog's counts show before the worker has
  // listed what is stored, and a person presses Download then. That click used to be taken for an interrupted
  // download as well: started twice, the first cancelled, and the page said "Download cancelled" (Cancel
  // disabled, Download enabled) while the second one ran.
  await page.route('**/assets/data.worker-*.js', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await route.continue();
  });
  await page.route('**/shards/*.qds', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await route.continue();
  });
  await page.reload();
  await expect(page.getByRole('checkbox', { name: /^cat [\d,]+/ })).toBeVisible();
  // Any moment the page says the download was cancelled counts, however brief.
  await page.evaluate(() => {
    const seen = (window as unknown as { sawCancelled: boolean });
    seen.sawCancelled = false;
    new MutationObserver(() => {
      if (document.body.textContent?.includes('Download cancelled')) seen.sawCancelled = true;
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  await choosePerCategory(page, 100);
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByText('Download complete')).toBeVisible({ timeout: 60_000 });
  expect(await page.evaluate(() => (window as unknown as { sawCancelled: boolean }).sawCancelled)).toBe(false);
  await expect(page.getByTestId('stored-count')).toHaveText('1,000');
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('1,000 drawings');
});
