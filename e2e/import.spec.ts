// Local import and own drawings through the UI, stored like downloaded drawings.
import { expect, test } from '@playwright/test';
import path from 'node:path';
import { HAS_SHARED, SHARED_DIR, makeNpy, openFresh } from './helpers.ts';

test('imports Google-format files, including a category name with spaces and accents', async ({ page }) => {
  await openFresh(page);
  await page.getByLabel('Import files').setInputFiles([
    { name: 'café au lait.npy', mimeType: 'application/octet-stream', buffer: makeNpy(12) },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a drawing') },
  ]);
  await expect(page.getByText('Import finished')).toBeVisible();
  await expect(page.getByTestId('import-stored')).toHaveText('12');
  await expect(page.getByRole('list', { name: 'Skipped files' })).toContainText('notes.txt');
  const dataset = page.getByRole('article', { name: /Dataset/ });
  await expect(dataset.getByRole('row', { name: /^café au lait 12/ })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('row', { name: /^café au lait 12/ })).toBeVisible();
});

test('imports real simplified and raw stroke files', async ({ page }) => {
  test.skip(!HAS_SHARED, `../shared is absent (looked in ${SHARED_DIR}); this test needs Google's real ndjson files`);
  await openFresh(page);
  await page.getByLabel('Import files').setInputFiles([
    path.join(SHARED_DIR, 'quickdraw', 'simplified', 'The Eiffel Tower.ndjson'),
  ]);
  await expect(page.getByText('Import finished')).toBeVisible();
  await expect(page.getByTestId('import-stored')).toHaveText('25');
  await expect(page.getByRole('row', { name: /^The Eiffel Tower 25/ })).toBeVisible();
});

test('saves own drawings as a new class', async ({ page }) => {
  await openFresh(page);
  await page.getByLabel('Class name').fill('zigzag mine');
  const canvas = page.getByLabel('Own drawing canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  if (box === null) throw new Error('canvas not laid out');
  for (let n = 0; n < 2; n++) {
    await page.mouse.move(box.x + 40, box.y + 60 + n * 80);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 40 + i * 20, box.y + 60 + n * 80 + (i % 2) * 40);
    await page.mouse.up();
    await page.getByRole('button', { name: 'Save drawing' }).click();
    await expect(page.getByText(`${n + 1} saved this session`)).toBeVisible();
  }
  await expect(page.getByRole('row', { name: /^zigzag mine 2/ })).toBeVisible();
  await page.getByRole('button', { name: 'Browse zigzag mine' }).click();
  await expect(page.getByRole('list', { name: 'Drawings of zigzag mine' }).locator('canvas')).toHaveCount(2);
});
