// Shared e2e helpers: where ../shared is, and small byte fixtures generated in code.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, type Page } from '@playwright/test';

export const SHARED_DIR = path.resolve(import.meta.dirname, '..', '..', 'shared');
export const HAS_SHARED = existsSync(path.join(SHARED_DIR, 'quickdraw'));

/** A NumPy v1.0 file of `rows` 28×28 uint8 bitmaps, each filled with a pattern derived from its row. */
export function makeNpy(rows: number): Buffer {
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${rows}, 784), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  const data = Buffer.alloc(rows * 784);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + Math.floor(i / 784)) % 256;
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]);
}

/** Opens the Data page on a clean browser profile state (IndexedDB and localStorage empty). */
export async function openFresh(page: Page): Promise<void> {
  await page.goto('./');
  await page.evaluate(async () => {
    localStorage.clear();
    const databases = await indexedDB.databases();
    await Promise.all(databases.map((db) => new Promise((resolve) => {
      const request = indexedDB.deleteDatabase(db.name ?? '');
      request.onsuccess = request.onerror = request.onblocked = () => resolve(null);
    })));
  });
  await page.reload();
}

export async function choosePerCategory(page: Page, perCategory: number): Promise<void> {
  await page.getByLabel('Drawings per category').selectOption(String(perCategory));
}

/** A clean profile with the default categories downloaded (`perCategory` each), then the Train page on the tiny preset. */
export async function openTrainWithDefaults(page: Page, perCategory: number): Promise<void> {
  await openFresh(page);
  await choosePerCategory(page, perCategory);
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByText('Download complete')).toBeVisible({ timeout: 60_000 });
  await page.getByRole('link', { name: 'Train' }).click();
  await page.getByLabel('Preset').selectOption('tiny');
}
