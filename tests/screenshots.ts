// `npm run screenshots` (Node): the README's pictures of the three pages, taken from the built site in headless
// Chromium as a newcomer would see them after a first hour: the defaults downloaded, a tiny run trained, a real
// drawing replayed on Play. Writes docs/screenshots/{data,train,play}.png. Needs ../shared for the strokes.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright';
import { serve } from '../datasets/serve.ts';
import { chromiumLaunchOptions } from './chromium.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'docs', 'screenshots');
const DIST = process.argv[2] ?? path.join(ROOT, 'dist');
const strokes = (category: string, n: number): number[][][] =>
  (JSON.parse(readFileSync(path.resolve(ROOT, '..', 'shared', 'quickdraw', 'simplified', `${category}.ndjson`), 'utf8').split('\n')[n]!) as { drawing: number[][][] }).drawing;

mkdirSync(OUT, { recursive: true });
const { server, origin } = await serve({ '/': DIST });
const browser = await chromium.launch(chromiumLaunchOptions());
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${origin}/`);
  await page.getByLabel('Drawings per category').selectOption('500');
  await page.getByRole('button', { name: 'Download' }).click();
  await page.getByText('Download complete').waitFor({ timeout: 120_000 });
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: path.join(OUT, 'data.png'), fullPage: false });

  await page.goto(`${origin}/#train`);
  await page.getByLabel('Preset').selectOption('tiny');
  const classes = page.getByLabel('Classes to train');
  await classes.fill('airplane, cat, rainbow');
  await classes.blur();
  await page.getByLabel('Max drawings per class').fill('300');
  await page.getByLabel('Epochs').fill('6');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await page.getByTestId('run-status').filter({ hasText: /^done$/ }).waitFor({ timeout: 300_000 });
  await page.getByRole('region', { name: 'Fine-tune MobileNet' }).getByRole('button', { name: 'Train', exact: true }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(OUT, 'train.png'), fullPage: false });

  await page.goto(`${origin}/#play`);
  const canvas = page.getByRole('img', { name: 'Drawing canvas' });
  await page.getByLabel('Model to play with').and(page.locator(':enabled')).waitFor();
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  for (const stroke of strokes('rainbow', 5)) {
    const at = (i: number): [number, number] => [box.x + 12 + (stroke[0]![i]! / 256) * (box.width - 24), box.y + 12 + (stroke[1]![i]! / 256) * (box.height - 24)];
    await page.mouse.move(...at(0));
    await page.mouse.down();
    for (let i = 1; i < stroke[0]!.length; i++) await page.mouse.move(...at(i));
    await page.mouse.up();
  }
  await page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem').first().waitFor();
  await page.waitForTimeout(1_000);
  await page.screenshot({ path: path.join(OUT, 'play.png'), fullPage: false });
  console.log(`wrote ${OUT}/{data,train,play}.png`);
} finally {
  await browser.close();
  server.close();
}
