// The evaluation view on the built site: the gallery of misclassified test drawings agrees with the confusion
// matrix and narrows to a clicked cell; a run recorded before the gallery existed shows it after "Evaluate
// again" (in the trainer worker, same top-1); with its drawings deleted, "Evaluate again" says so.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { openPage, openTrainWithDefaults } from './helpers.ts';

const ITEM = /^(cat|airplane|rainbow) guessed as (cat|airplane|rainbow) (\d{1,3})%$/;

/** The confusion matrix's counts, row by row (rows: true class; columns: guess). */
async function confusionOf(page: Page): Promise<number[][]> {
  const rows = page.getByRole('table', { name: 'Confusion matrix' }).locator('tbody tr');
  const out: number[][] = [];
  for (const row of await rows.all()) out.push((await row.locator('td').allTextContents()).map((t) => Number(t.trim())));
  return out;
}

const offDiagonal = (confusion: number[][]) => confusion.reduce((sum, row, i) => sum + row.reduce((s, n, j) => (i === j ? s : s + n), 0), 0);

async function itemNames(list: Locator): Promise<string[]> {
  return list.getByRole('listitem').evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
}

async function top1Of(page: Page): Promise<string> {
  return (await page.getByText(/top-1 \d+\.\d %/).first().textContent()) ?? '';
}

test('misclassified drawings: agree with the matrix, filter by cell, survive "Evaluate again", and a deleted dataset is reported', async ({ page }) => {
  test.setTimeout(300_000);
  await openTrainWithDefaults(page, 100);
  // One epoch at the smallest learning rate leaves the new head close to its random start, so the test split
  // has mistakes for the gallery to show.
  await page.getByLabel('Epochs').fill('1');
  await page.getByLabel('Learning rate').fill('0.00001');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 180_000 });

  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'tiny' });
  await row.getByRole('button', { name: 'Evaluation' }).click();
  const gallery = page.getByRole('list', { name: 'Misclassified drawings' });
  await expect(gallery).toBeVisible();
  const confusion = await confusionOf(page);
  const wrong = offDiagonal(confusion);
  expect(wrong).toBeGreaterThan(0);
  expect(wrong).toBeLessThanOrEqual(100);
  await expect(gallery.getByRole('listitem')).toHaveCount(wrong);
  const names = await itemNames(gallery);
  const confidences: number[] = [];
  for (const name of names) {
    const [, actual, guess, percent] = ITEM.exec(name) ?? [];
    expect(name).toMatch(ITEM);
    expect(actual).not.toBe(guess);
    confidences.push(Number(percent));
  }
  expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
  // The drawing itself is painted: dark ink somewhere on the white 28×28 canvas.
  const inked = await gallery.locator('canvas').first().evaluate((canvas: HTMLCanvasElement) => {
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, 28, 28).data;
    return pixels.some((v, i) => i % 4 === 0 && v < 128);
  });
  expect(inked).toBe(true);

  // A cell of the matrix narrows the gallery to that kind of mistake; "Show all mistakes" goes back. A head
  // this close to random makes more than one kind of mistake, so narrowing is visible.
  const cellButtons = page.getByRole('table', { name: 'Confusion matrix' }).getByRole('button');
  expect(await cellButtons.count()).toBe(confusion.flatMap((r, i) => r.filter((n, j) => i !== j && n > 0)).length);
  expect(await cellButtons.count()).toBeGreaterThan(1);
  const cellButton = cellButtons.first();
  const [, actual, guess, count] = /^(\w+) guessed as (\w+): (\d+)$/.exec((await cellButton.getAttribute('aria-label')) ?? '') ?? [];
  await cellButton.click();
  await expect(cellButton).toHaveAttribute('aria-pressed', 'true');
  await expect(gallery.getByRole('listitem')).toHaveCount(Number(count));
  expect(Number(count)).toBeLessThan(wrong);
  if (process.env['E2E_SHOT']) await page.screenshot({ path: process.env['E2E_SHOT'], fullPage: true });
  for (const name of await itemNames(gallery)) expect(name.startsWith(`${actual} guessed as ${guess} `)).toBe(true);
  await page.getByRole('button', { name: 'Show all mistakes' }).click();
  await expect(gallery.getByRole('listitem')).toHaveCount(wrong);

  // A run evaluated before the gallery existed: its stored record has no `mistakes`.
  const top1 = await top1Of(page);
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('doodle-lab');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const store = db.transaction('runs', 'readwrite').objectStore('runs');
    const runs = await new Promise<{ test: { mistakes?: unknown } }[]>((resolve) => {
      const request = store.getAll();
      request.onsuccess = () => resolve(request.result as { test: { mistakes?: unknown } }[]);
    });
    for (const run of runs) {
      delete run.test.mistakes;
      store.put(run);
    }
    await new Promise((resolve) => { store.transaction.oncomplete = resolve; });
    db.close();
  });
  await page.reload();
  await row.getByRole('button', { name: 'Evaluation' }).click();
  await expect(page.getByText(/press “Evaluate again” to see them/)).toBeVisible();
  await expect(gallery).toHaveCount(0);
  expect(await top1Of(page)).toBe(top1);

  await page.getByRole('button', { name: 'Evaluate again' }).click();
  await expect(page.getByText(/^Evaluated again /)).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('button', { name: 'Evaluate again' })).toBeEnabled();
  expect(await top1Of(page)).toBe(top1);
  await expect(gallery.getByRole('listitem')).toHaveCount(wrong);
  expect(await confusionOf(page)).toEqual(confusion);

  // With the drawings gone there is nothing to evaluate on, and the page says what to do.
  await openPage(page, 'Data');
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Delete dataset' }).click();
  await expect(page.getByRole('button', { name: 'Delete dataset' })).toHaveCount(0);
  // Pages stay mounted when switching, so the evaluation is still open.
  await openPage(page, 'Train');
  await page.getByRole('button', { name: 'Evaluate again' }).click();
  await expect(page.getByRole('alert')).toContainText(/Cannot evaluate again: No stored drawings of “\w+”.*download or import them/);
  // The stored evaluation is kept.
  expect(await top1Of(page)).toBe(top1);
});
