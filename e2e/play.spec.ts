// Draw and be guessed, on the built site: a model trained in the test on real drawings; real Quick, Draw!
// strokes (simplified and raw) replayed through pointer events on the canvas; live top guesses; undo, clear.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { HAS_SHARED, openPage, replay, settledGuesses, SHARED_DIR, strokesOf, trainTinyAndPlay } from './helpers.ts';

const CLASSES = ['airplane', 'cat', 'rainbow'];

test('guesses real drawings live with a model trained in the test; undo and clear', async ({ page }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/quickdraw for real strokes to replay');
  test.setTimeout(300_000);
  await trainTinyAndPlay(page, CLASSES);
  const predictions = page.getByRole('list', { name: 'Predictions', exact: true });

  const right: string[] = [];
  for (const [kind, category, n] of [['simplified', 'rainbow', 0], ['simplified', 'airplane', 1], ['raw', 'cat', 0], ['raw', 'rainbow', 2]] as const) {
    await replay(page, strokesOf(kind, category, n));
    await expect(predictions.getByRole('listitem')).toHaveCount(3);
    const names = await predictions.getByRole('listitem').evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
    for (const name of names) expect(name).toMatch(/^(airplane|cat|rainbow) \d{1,3}%$/);
    if (names[0]!.startsWith(category)) right.push(`${kind} ${category}`);
    // Without a GPU the engine's WebAssembly kernels guess (not tfjs's WASM backend): the page says so.
    await expect(page.getByTestId('latency')).toContainText(/Updated in \d+ ms \(wasm, engine\)/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect(predictions.getByRole('listitem')).toHaveCount(0);
  }
  // A tiny model trained in a minute on emulated GPU: most, not necessarily all, real drawings are right.
  expect(right.length, `right: ${right.join(', ')}`).toBeGreaterThanOrEqual(3);

  // "That's wrong": the drawing is stored under the right label in My drawings.
  await replay(page, strokesOf('simplified', 'cat', 2));
  await page.getByLabel('It was').selectOption('cat');
  await page.getByRole('button', { name: "That's wrong: save it" }).click();
  await expect(page.getByText('Saved as “cat” in My drawings.')).toBeVisible();
  await expect(predictions.getByRole('listitem')).toHaveCount(0);
  await openPage(page, 'Data');
  await expect(page.getByTestId('dataset-count-my-drawings')).toContainText('1 drawing');
  await openPage(page, 'Play');

  // Export model → three files; importing them back gives the same guesses for the same drawing.
  const rainbowOne = strokesOf('simplified', 'rainbow', 5);
  await replay(page, rainbowOne);
  await expect(predictions.getByRole('listitem')).toHaveCount(3);
  const fromRun = await settledGuesses(page);
  await page.getByRole('button', { name: 'Clear' }).click();
  const downloads: string[] = [];
  page.on('download', (d) => void d.path().then((p) => downloads.push(`${d.suggestedFilename()}=${p}`)));
  await page.getByRole('button', { name: 'Export model' }).click();
  await expect.poll(() => downloads.length).toBe(3);
  const saved = Object.fromEntries(downloads.map((d) => d.split('=') as [string, string]));
  expect(Object.keys(saved).sort()).toEqual(['metadata.json', 'model.json', 'weights.bin']);
  await page.getByLabel('Model files').setInputFiles(Object.values(saved).map((p, i) => ({ name: Object.keys(saved)[i]!, mimeType: 'application/octet-stream', buffer: readFileSync(p) })));
  await expect(page.getByText(/Imported “tiny” \(Doodle Lab, 3 classes\)/)).toBeVisible();
  await replay(page, rainbowOne);
  await expect(predictions.getByRole('listitem')).toHaveCount(3);
  await expect.poll(() => predictions.getByRole('listitem').evaluateAll((items) => items.map((i) => i.getAttribute('aria-label')))).toEqual(fromRun);
  await page.getByRole('button', { name: 'Clear' }).click();

  // A real Teachable Machine export imports; a malformed set says what is missing.
  const tm = path.join(SHARED_DIR, 'models', 'teachable-machine-mobilenet_v2_0.35_224');
  await page.getByLabel('Model files').setInputFiles(['model.json', 'weights.bin', 'metadata.json'].map((f) => path.join(tm, f)));
  await expect(page.getByText(/Imported “tm-my-image-model” \(Teachable Machine, 10 classes\)/)).toBeVisible({ timeout: 60_000 });
  await page.getByLabel('Model files').setInputFiles([path.join(tm, 'model.json'), path.join(tm, 'weights.bin')]);
  await expect(page.getByRole('alert')).toContainText('No metadata.json among the files');
  await page.getByLabel('Model to play with').selectOption({ index: 1 });

  // Undo removes one stroke at a time: guesses stay until the last stroke is gone.
  const rainbow = strokesOf('simplified', 'rainbow', 3);
  expect(rainbow.length).toBeGreaterThan(1);
  await replay(page, rainbow);
  for (let i = 1; i < rainbow.length; i++) {
    await page.getByRole('button', { name: 'Undo' }).click();
    await expect(predictions.getByRole('listitem')).toHaveCount(3);
  }
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(predictions.getByRole('listitem')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Undo' })).toBeDisabled();
});
