// The cluster round trip on the built site: a run trained in the tab goes out through "Export for a cluster",
// trains under torchrun (scale/, PyTorch on this machine's CPUs) from that bundle, and comes back through
// Import model, saying where it was trained, guesses for a drawing replayed on the canvas, and is a row of the Runs
// table that "Evaluate again" scores as the cluster did.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { PYTHON, runPython, torchrunArgs } from '../tests/scale/torchrun.ts';
import { HAS_SHARED, SHARED_DIR, openPage, openTrainWithDefaults, replay, strokesOf } from './helpers.ts';

const HAS_TORCH = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
})();

test('a run exported for a cluster trains under torchrun and comes back through Import, saying where it trained', async ({ page }) => {
  test.skip(!HAS_SHARED, 'needs ../shared/quickdraw: the cluster reads the same numpy_bitmap rows the app downloaded');
  test.skip(!HAS_TORCH, `needs ${PYTHON} with PyTorch (apt-get install python3-torch)`);
  test.setTimeout(480_000);
  await openTrainWithDefaults(page, 500);
  // Every drawing downloaded, so the test split (20 %) is large enough for the app's and the cluster's top-1 to be
  // compared to 0.2 points.
  await page.getByLabel('Max drawings per class').fill('500');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 240_000 });

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export for a cluster' }).first().click()]);
  expect(download.suggestedFilename()).toBe('doodle-lab-tiny-cluster.zip');
  const dir = mkdtempSync(path.join(tmpdir(), 'doodle-lab-cluster-'));
  const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
  for (const [name, bytes] of Object.entries(entries)) {
    mkdirSync(path.dirname(path.join(dir, 'bundle', name)), { recursive: true });
    writeFileSync(path.join(dir, 'bundle', name), bytes);
  }
  const dataset = JSON.parse(readFileSync(path.join(dir, 'bundle', 'dataset.json'), 'utf8')) as { counts: Record<string, number>; categories: { name: string; shards: string[] }[] };
  expect(dataset.categories.map((c) => c.name)).toEqual(['cat', 'airplane', 'rainbow']);
  expect(dataset.categories.every((c) => c.shards.length > 0)).toBe(true);

  // The served dataset is the first rows of Google's files, which ../shared holds: the cluster reads them directly.
  const bundle = path.join(dir, 'bundle');
  await runPython([...await torchrunArgs(2),
    '--config', path.join(bundle, 'config.json'), '--train-source', path.join(SHARED_DIR, 'quickdraw', 'numpy_bitmap'),
    '--model-dir', path.join(bundle, 'model'), '--out', path.join(dir, 'out'), '--threads', '1'], { cwd: path.resolve(import.meta.dirname, '..'), timeoutMs: 180_000 });
  const metrics = JSON.parse(readFileSync(path.join(dir, 'out', 'metrics.json'), 'utf8')) as { counts: Record<string, number>; top1: number };
  // The same drawings land in the same split on the cluster as in the tab.
  expect(metrics.counts).toEqual(dataset.counts);
  expect(existsSync(path.join(dir, 'out', 'model', 'weights.bin'))).toBe(true);

  await openPage(page, 'Play');
  await page.getByLabel('Model files').setInputFiles(['model.json', 'weights.bin', 'metadata.json'].map((f) => path.join(dir, 'out', 'model', f)));
  const reported = `${(metrics.top1 * 100).toFixed(1)} % test top-1`;
  await expect(page.getByText(/Imported “tiny” \(Doodle Lab, 3 classes\)\. Trained with PyTorch .*, 2 processes on CPU/)).toContainText(`reported ${reported}`);
  await expect(page.getByLabel('Model to play with')).toHaveValue(/^model:/);
  await expect(page.getByLabel('Model to play with').locator('option:checked')).toContainText(/trained with PyTorch/);
  await replay(page, strokesOf('simplified', 'rainbow', 5));
  await expect(page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem')).toHaveCount(3);

  // It is a run too: the Runs table says where it trained and what it reported, and "Evaluate again" scores it on
  // the drawings stored in this tab, whose test split is the cluster's: the same top-1 within 0.2 points.
  await openPage(page, 'Train');
  const row = page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: /imported · PyTorch .*, 2 processes on CPU/ });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(`${(metrics.top1 * 100).toFixed(1)} %reported`);
  await expect(row.getByRole('button', { name: 'Export', exact: true })).toHaveCount(0);
  await row.getByRole('button', { name: 'Evaluation' }).click();
  await page.getByRole('button', { name: 'Evaluate again' }).click();
  const evaluation = page.getByRole('region', { name: /^Evaluation of / });
  await expect(evaluation).toContainText(/top-1 \d+\.\d %/, { timeout: 60_000 });
  const top1 = Number(/top-1 (\d+\.\d) %/.exec(await evaluation.innerText())![1]) / 100;
  console.log(`imported cluster model: top-1 ${(top1 * 100).toFixed(1)} % in the app's evaluation, ${(metrics.top1 * 100).toFixed(2)} % as the cluster reported, on ${dataset.counts['test']} test drawings`);
  expect(Math.abs(top1 - metrics.top1), `the app's top-1 ${top1} against the cluster's ${metrics.top1}`).toBeLessThanOrEqual(0.002);
  await expect(row).toContainText(`${(top1 * 100).toFixed(1)} %`);
});
