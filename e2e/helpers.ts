// Shared e2e helpers: where ../shared is, small byte fixtures generated in code, training setup, and real
// Quick, Draw! strokes replayed on the Play page's canvas.
import { existsSync, readFileSync } from 'node:fs';
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

/** Switches to one of the app's pages (Data, Train, Play) with the header link and waits until it is the current one.
 * A click can land while the page below the header is still growing (thumbnails, a new dataset's row), and scroll
 * anchoring can move the link between Playwright's hit check and the click: CI once lost the Play click that way and
 * then waited five minutes for a hidden canvas. So the click is repeated until the link says it is current; an app
 * that ignored the hash change would still fail here, because a repeated click on the same hash changes nothing. */
export async function openPage(page: Page, name: 'Data' | 'Train' | 'Play'): Promise<void> {
  const link = page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true });
  await expect(async () => {
    await link.click();
    await expect(link).toHaveAttribute('aria-current', 'page', { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
}

/** A clean profile with the default categories downloaded (`perCategory` each), then the Train page on the tiny preset. */
export async function openTrainWithDefaults(page: Page, perCategory: number): Promise<void> {
  await openFresh(page);
  await choosePerCategory(page, perCategory);
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByText('Download complete')).toBeVisible({ timeout: 60_000 });
  await openPage(page, 'Train');
  await page.getByLabel('Preset').selectOption('tiny');
}

/** The `n`-th drawing of a category from ../shared, as [xs, ys] strokes. */
export function strokesOf(kind: 'simplified' | 'raw', category: string, n: number): number[][][] {
  const line = readFileSync(path.join(SHARED_DIR, 'quickdraw', kind, `${category}.ndjson`), 'utf8').split('\n')[n]!;
  return (JSON.parse(line) as { drawing: number[][][] }).drawing;
}

/** Draws `strokes` on the "Drawing canvas" with the mouse, scaled to fill most of it. */
export async function replay(page: Page, strokes: number[][][]): Promise<void> {
  const canvas = page.getByRole('img', { name: 'Drawing canvas' });
  // Just after a page switch the previous page can still be laid out above the canvas for a frame: wait until
  // the canvas is really on screen before reading its position.
  await canvas.scrollIntoViewIfNeeded({ timeout: 30_000 });
  await expect(canvas).toBeInViewport();
  const box = (await canvas.boundingBox())!;
  const xs = strokes.flatMap((s) => s[0]!), ys = strokes.flatMap((s) => s[1]!);
  const size = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 1);
  const scale = (box.width * 0.8) / size;
  const at = (x: number, y: number): [number, number] => [box.x + box.width * 0.1 + (x - Math.min(...xs)) * scale, box.y + box.height * 0.1 + (y - Math.min(...ys)) * scale];
  for (const stroke of strokes) {
    const [x0, y0] = at(stroke[0]![0]!, stroke[1]![0]!);
    await page.mouse.move(x0, y0);
    await page.mouse.down();
    for (let i = 1; i < stroke[0]!.length; i++) await page.mouse.move(...at(stroke[0]![i]!, stroke[1]![i]!));
    await page.mouse.up();
  }
}

/** Trains the tiny preset on `classes` (real drawings), then opens the Play page with that run chosen. */
export async function trainTinyAndPlay(page: Page, classes: string[], trainTimeoutMs = 240_000): Promise<void> {
  await openTrainWithDefaults(page, 500);
  const field = page.getByLabel('Classes to train');
  await field.fill(classes.join(', '));
  await field.blur();
  await page.getByLabel('Max drawings per class').fill('300');
  await page.getByLabel('Epochs').fill('5');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: trainTimeoutMs });
  await openPage(page, 'Play');
  await page.getByLabel('Model to play with').selectOption({ index: 1 });
}

/** The Predictions' labels once they stop changing: a guess made mid-stroke can land after the pointer-up one
 * is asked for, and on a loaded machine that takes longer than any fixed wait. */
export async function settledGuesses(page: Page): Promise<string[]> {
  const items = page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
  let last = '';
  await expect.poll(async () => {
    const now = JSON.stringify(await items.evaluateAll((list) => list.map((i) => i.getAttribute('aria-label') ?? '')));
    const same = now === last && now !== '[]';
    last = now;
    return same;
  }, { intervals: [1500] }).toBe(true);
  return JSON.parse(last) as string[];
}

/** Waits until the offline app's service worker controls the page: it precaches while the page is used and
 * takes control once that is done (clientsClaim), so a reload without a network opens from its cache. */
export async function untilServiceWorkerControls(page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    return navigator.serviceWorker.controller !== null;
  }), { timeout: 120_000 }).toBe(true);
}
