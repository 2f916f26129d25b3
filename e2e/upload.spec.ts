// Upload an image on the Play page, on the built site: the stock ImageNet MobileNet (self-hosted) names a real
// cat photo; a real Teachable Machine export classifies the same photo; switching models changes the guesses;
// a file that is not an image gets a clear message and the page keeps working.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type Locator } from '@playwright/test';
import { openFresh, openPage, SHARED_DIR } from './helpers.ts';

const CAT = path.join(SHARED_DIR, 'images', 'cat.jpg');
const TM = path.join(SHARED_DIR, 'models', 'teachable-machine-mobilenet_v2_0.35_224');
const TM_LABELS = ['one', 'two', 'nothing', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/** The "<label> <percent>%" names of the list's items, split into label and percent. */
async function guessesOf(list: Locator): Promise<{ label: string; percent: number }[]> {
  const names = await list.getByRole('listitem').evaluateAll((items) => items.map((i) => i.getAttribute('aria-label') ?? ''));
  return names.map((name) => {
    const match = /^(.+) (\d{1,3})%$/.exec(name);
    if (match === null) throw new Error(`"${name}" does not read "<label> <percent>%"`);
    return { label: match[1]!, percent: Number(match[2]) };
  });
}

/** Top-5 of one softmax: at most 100 %, plus at most 0.5 of rounding on each of the five. */
function expectProbabilities(guesses: { percent: number }[]): void {
  expect(guesses).toHaveLength(5);
  expect(guesses.reduce((sum, g) => sum + g.percent, 0)).toBeLessThanOrEqual(102);
  expect(guesses.map((g) => g.percent)).toEqual([...guesses.map((g) => g.percent)].sort((a, b) => b - a));
}

test('classifies an uploaded photo by ImageNet MobileNet and by an imported Teachable Machine model', async ({ page }) => {
  test.skip(!existsSync(CAT) || !existsSync(TM), `../shared is absent (looked for ${CAT} and ${TM}); this test needs the real photo and export`);
  test.setTimeout(180_000);
  await openFresh(page);
  await openPage(page, 'Play');
  const predictions = page.getByRole('list', { name: 'Image predictions' });
  const latency = page.getByTestId('image-latency');
  await expect(page.getByRole('radio', { name: /The selected model/ })).toBeDisabled();

  // The stock model is the default; its first run loads the model from this site.
  await page.getByLabel('Image file').setInputFiles(CAT);
  await expect(predictions.getByRole('listitem')).toHaveCount(5, { timeout: 60_000 });
  const imagenet = await guessesOf(predictions);
  expect(imagenet[0]!.label).toBe('Egyptian cat');
  expectProbabilities(imagenet);
  await expect(page.getByRole('img', { name: 'Uploaded image: cat.jpg' })).toBeVisible();
  await expect(latency).toContainText(/Classified in \d+ ms/);
  const firstLatency = await latency.textContent();
  console.log(`ImageNet, first upload (includes loading the model): ${firstLatency}`);
  // A second upload of the same file: the model is loaded, so this is the steady latency.
  await page.getByLabel('Image file').setInputFiles(CAT);
  await expect(latency).not.toHaveText(firstLatency ?? '');
  expect(await guessesOf(predictions)).toEqual(imagenet);
  console.log(`ImageNet, model loaded: ${await latency.textContent()}`);

  // The real Teachable Machine export becomes the selected model; the same photo is classified by it.
  await page.getByLabel('Model files').setInputFiles(['model.json', 'weights.bin', 'metadata.json'].map((f) => path.join(TM, f)));
  await expect(page.getByText(/Imported “tm-my-image-model”/)).toBeVisible({ timeout: 60_000 });
  await page.getByRole('radio', { name: 'The selected model (tm-my-image-model)' }).check();
  await expect.poll(async () => (await guessesOf(predictions)).map((g) => g.label).every((l) => TM_LABELS.includes(l)), { timeout: 60_000 }).toBe(true);
  const teachable = await guessesOf(predictions);
  expectProbabilities(teachable);
  expect(teachable.some((g) => imagenet.some((i) => i.label === g.label))).toBe(false);
  await expect(latency).toContainText(/Classified in \d+ ms/);
  console.log(`Teachable Machine: ${await latency.textContent()}; top 5: ${teachable.map((g) => `${g.label} ${g.percent}%`).join(', ')}`);

  // And back: ImageNet's guesses return unchanged.
  await page.getByRole('radio', { name: 'ImageNet MobileNet' }).check();
  await expect.poll(async () => await guessesOf(predictions)).toEqual(imagenet);
});

test('a file that is not an image gets a clear message, and the page keeps working', async ({ page }) => {
  test.skip(!existsSync(CAT), `../shared is absent (looked for ${CAT}); this test needs the real photo`);
  await openFresh(page);
  await openPage(page, 'Play');
  const predictions = page.getByRole('list', { name: 'Image predictions' });
  await page.getByLabel('Image file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
  await expect(page.getByRole('alert')).toContainText('“notes.txt” is not an image this browser can read');
  await expect(predictions.getByRole('listitem')).toHaveCount(0);
  // A corrupt JPEG (the right magic bytes, then noise) is as unreadable.
  const noise = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 251));
  await page.getByLabel('Image file').setInputFiles({ name: 'broken.jpg', mimeType: 'image/jpeg', buffer: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noise]) });
  await expect(page.getByRole('alert')).toContainText('“broken.jpg” is not an image this browser can read');

  await page.getByLabel('Image file').setInputFiles(CAT);
  await expect(predictions.getByRole('listitem')).toHaveCount(5, { timeout: 60_000 });
  await expect(page.getByRole('alert')).toHaveCount(0);
});
