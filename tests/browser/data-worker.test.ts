// The real data worker end to end, as the page uses it through comlink: download shards served over HTTP by
// the test server (generated into tests/browser/fixtures/, git-ignored), import a PNG decoded inside the
// worker, save an own drawing, browse, and delete one dataset.
import * as Comlink from 'comlink';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { commands } from 'vitest/browser';
import type { IngestProgress, ImportProgress } from '../../src/core/ingest/ingest-protocol.ts';
import type { DataWorkerApi } from '../../workers/data.worker.ts';
import { BASE_URL, drawingsOf, makeDataset } from './helpers.ts';

const FIXTURE_DIR = `tests/browser/fixtures/worker-${Date.now()}`;
const written: string[] = [];
let worker: Worker;
let api: Comlink.Remote<DataWorkerApi>;
let manifestUrl: string;

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

beforeAll(async () => {
  // Shard files are named by the manifest relative to it, so they can be served from any folder.
  const dataset = await makeDataset(['cat', 'crème brûlée'], 3, 500);
  for (const [url, bytes] of dataset.files) {
    const path = `${FIXTURE_DIR}/${url.slice(BASE_URL.length)}`;
    await commands.writeFile(path, base64(bytes), { encoding: 'base64' });
    written.push(path);
  }
  manifestUrl = new URL(`/${FIXTURE_DIR}/manifest.json`, location.origin).href;
  worker = new Worker(new URL('../../workers/data.worker.ts', import.meta.url), { type: 'module' });
  api = Comlink.wrap<DataWorkerApi>(worker);
  for (const id of ['quickdraw', 'imported', 'my-drawings']) await api.deleteDataset(id);
});

afterAll(async () => {
  for (const id of ['quickdraw', 'imported', 'my-drawings']) await api.deleteDataset(id);
  worker.terminate();
  for (const path of written) await commands.removeFile(path);
});

test('the data worker downloads, imports, stores own drawings, pages through them and deletes one dataset', async () => {
  const events: IngestProgress[] = [];
  await api.download({ manifestUrl, categories: ['cat', 'crème brûlée'], maxPerCategory: 1200 }, Comlink.proxy((e: IngestProgress) => void events.push(e)));
  expect(events[0]).toMatchObject({ kind: 'plan', categories: [{ name: 'cat', targetDrawings: 1200 }, { name: 'crème brûlée', targetDrawings: 1200 }] });
  expect(events.at(-1)).toMatchObject({ kind: 'done', storedDrawings: 2400 });
  expect(events.some((e) => e.kind === 'storage')).toBe(true);

  // Resume: a second run finds everything stored and downloads nothing.
  const again: IngestProgress[] = [];
  await api.download({ manifestUrl, categories: ['cat', 'crème brûlée'], maxPerCategory: 1200 }, Comlink.proxy((e: IngestProgress) => void again.push(e)));
  expect(again.filter((e) => e.kind === 'shard-stored')).toEqual([]);
  expect(again.at(-1)).toMatchObject({ kind: 'done', storedDrawings: 2400 });

  const canvas = new OffscreenCanvas(64, 64);
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('no 2D canvas');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, 64, 64);
  context.fillStyle = '#000';
  context.fillRect(24, 8, 16, 48);
  const png = await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer();
  const imports: ImportProgress[] = [];
  const files = [{ path: 'bars/bar.png', bytes: png }, { path: 'readme.md', bytes: new TextEncoder().encode('# hi').buffer }];
  await api.importFiles(Comlink.transfer(files, files.map((f) => f.bytes)), Comlink.proxy((e: ImportProgress) => void imports.push(e)));
  expect(imports.at(-1)).toEqual({ kind: 'done', storedDrawings: 1, skippedFiles: 1 });

  const summary = await api.addDrawing('zigzag mine', [[[10, 60, 110], [10, 90, 10]]]);
  expect(summary).toEqual({ datasetId: 'my-drawings', name: 'zigzag mine', storedDrawings: 1, storedBytes: expect.any(Number) });
  await expect(api.addDrawing('zigzag mine', [])).rejects.toThrow(/draw something first/);

  const datasets = await api.listDatasets();
  expect(Object.fromEntries(datasets.map((d) => [d.datasetId, d.storedDrawings]))).toEqual({ quickdraw: 2400, imported: 1, 'my-drawings': 1 });
  const page = await api.readDrawings('quickdraw', 'crème brûlée', 1100, 96);
  expect(page).toMatchObject({ offset: 1100, total: 1200 });
  expect(page.bitmaps).toEqual(drawingsOf('crème brûlée', 1100, 1196));
  const bar = await api.readDrawings('imported', 'bars', 0, 10);
  // The black bar on white paper arrives as a white bar on black.
  expect([bar.bitmaps[14 * 28 + 14], bar.bitmaps[14 * 28 + 2]]).toEqual([255, 0]);

  await api.deleteDataset('quickdraw');
  expect((await api.listDatasets()).map((d) => d.datasetId).sort()).toEqual(['imported', 'my-drawings']);
  const estimate = await api.storageEstimate();
  expect(typeof estimate.persisted).toBe('boolean');
  expect(estimate.usageBytes).toEqual(expect.any(Number));
});
