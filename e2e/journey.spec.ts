// A newcomer's first hour, in one journey on the built site: a fresh profile downloads the defaults, trains a small
// run, reloads, exports the run from the Runs table and from the Play page (both load with plain
// tf.loadLayersModel), re-imports it, saves a wrongly guessed drawing under the label the person chose, then goes
// offline, reloads, and draws and gets guesses.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { expect, test, type Download, type Page } from '@playwright/test';
import { HAS_SHARED, openPage, openTrainWithDefaults, replay, settledGuesses, strokesOf, untilServiceWorkerControls } from './helpers.ts';

const CLASSES = ['airplane', 'cat', 'rainbow'];

// playwright.config.ts blocks service workers for the specs that fake server failures with page.route.
test.use({ serviceWorkers: 'allow' });

/** Clicks `button` and collects the files it downloads (the export saves model.json, weights.bin, metadata.json). */
async function downloadsOf(page: Page, click: () => Promise<void>, count: number): Promise<Record<string, Buffer>> {
  const downloads: Download[] = [];
  const listener = (d: Download) => void downloads.push(d);
  page.on('download', listener);
  await click();
  await expect.poll(() => downloads.length, { timeout: 60_000 }).toBe(count);
  page.off('download', listener);
  return Object.fromEntries(await Promise.all(downloads.map(async (d) => [d.suggestedFilename(), readFileSync(await d.path())] as const)));
}

/** The exported files loaded the way anyone would, with tfjs's own loader: a probability for each class. */
async function predictWithPlainTfjs(files: Record<string, Buffer>): Promise<number[]> {
  const modelJson = JSON.parse(files['model.json']!.toString('utf8')) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const weights = files['weights.bin']!;
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const shape = model.inputs[0]!.shape.map((d) => d ?? 1);
  const output = model.predict(tf.zeros(shape)) as tf.Tensor;
  const values = Array.from(await output.data());
  model.dispose();
  return values;
}

test('download → train → reload → export from both places → re-import → correct a wrong guess → offline', async ({ page, context }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/quickdraw for real strokes to replay');
  test.setTimeout(600_000);
  await openTrainWithDefaults(page, 3000);
  const field = page.getByLabel('Classes to train');
  await field.fill(CLASSES.join(', '));
  await field.blur();
  await page.getByLabel('Max drawings per class').fill('300');
  await page.getByLabel('Epochs').fill('3');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 400_000 });
  // Finished: no time left, no phase from before the end.
  const trainSection = page.getByRole('region', { name: 'Fine-tune MobileNet' });
  await expect(trainSection.getByText(/ left\b/)).toHaveCount(0);
  await expect(trainSection.getByText(/^finished: \d+\.\d % right on \d+ held-out test drawings/)).toBeVisible();

  await page.reload();
  await openPage(page, 'Train');
  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'tiny' });
  await expect(row).toContainText('done');
  // After a reload the trainer worker has run nothing yet: export must still pick a backend for itself.
  const fromTable = await downloadsOf(page, () => row.getByRole('button', { name: 'Export', exact: true }).click(), 3);
  expect(Object.keys(fromTable).sort()).toEqual(['metadata.json', 'model.json', 'weights.bin']);
  const probabilities = await predictWithPlainTfjs(fromTable);
  expect(probabilities).toHaveLength(3);
  expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  expect(JSON.parse(fromTable['metadata.json']!.toString('utf8'))).toMatchObject({ labels: CLASSES });

  await page.reload();
  await openPage(page, 'Play');
  // The newest run is chosen for the newcomer: drawing first gets guesses.
  await expect(page.getByLabel('Model to play with')).toHaveValue(/^run:/);
  const fromPlay = await downloadsOf(page, () => page.getByRole('button', { name: 'Export model' }).click(), 3);
  expect(fromPlay['weights.bin']!.equals(fromTable['weights.bin']!)).toBe(true);
  expect(await predictWithPlainTfjs(fromPlay)).toEqual(probabilities);

  await page.getByLabel('Model files').setInputFiles(Object.entries(fromPlay).map(([name, buffer]) => ({ name, mimeType: 'application/octet-stream', buffer })));
  await expect(page.getByText(/Imported “tiny” \(Doodle Lab, 3 classes\)/)).toBeVisible();
  await expect(page.getByLabel('Model to play with')).toHaveValue(/^model:/);

  // A wrong guess is saved under the label chosen in "It was", never under a label nobody chose.
  await replay(page, strokesOf('simplified', 'cat', 4));
  const top = (await settledGuesses(page))[0]!.replace(/ \d+%$/, '');
  const save = page.getByRole('button', { name: "That's wrong: save it" });
  await expect(page.getByLabel('It was')).toHaveValue('');
  await expect(save).toBeDisabled();
  const chosen = CLASSES.find((label) => label !== top && label !== CLASSES[0])!;
  await page.getByLabel('It was').selectOption(chosen);
  await save.click();
  await expect(page.getByText(`Saved as “${chosen}” in My drawings.`)).toBeVisible();
  await openPage(page, 'Data');
  const mine = page.getByRole('article', { name: 'Dataset My drawings' });
  await expect(mine.getByRole('row')).toHaveCount(2);
  await expect(mine.getByRole('row', { name: new RegExp(`^${chosen} 1 `) })).toBeVisible();

  // Offline: once the service worker controls the page, a reload without a network still draws and guesses.
  await untilServiceWorkerControls(page);
  await context.setOffline(true);
  await page.reload();
  await openPage(page, 'Play');
  await expect(page.getByLabel('Model to play with')).toHaveValue(/^run:/);
  await replay(page, strokesOf('simplified', 'rainbow', 5));
  await expect(page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem')).toHaveCount(3);
  await context.setOffline(false);
});
