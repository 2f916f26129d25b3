// Reads a config's drawings from IndexedDB into the deterministic train/validation/test split (by a hash of
// each drawing's id) and fingerprints what was read, for the run record. Runs in the trainer worker.
import { sha256Hex } from '../data/sha256.ts';
import { splitOf } from './random.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX } from '../data/render.ts';
import type { DatasetRecord } from '../data/database.ts';
import type { DrawingStore } from '../data/store.ts';
import type { TrainConfig } from './train-config.ts';
import type { LabeledBitmaps, TrainingData } from './training.ts';

export interface LoadedData {
  data: TrainingData;
  datasetHash: string;
  /** Drawings of the separate test dataset left out because the training dataset holds the same bitmap. */
  testOverlap: number;
}

type Part = 'train' | 'validation' | 'test';

/** A bitmap as a Set key: its bytes, one character each. */
const bitmapKey = (bitmap: Uint8Array): string => String.fromCharCode(...bitmap);

export async function loadTrainingData(store: DrawingStore, config: TrainConfig): Promise<LoadedData> {
  const { datasetId, categories, maxPerCategory, testDatasetId } = config.dataset;
  const { validationFraction } = config.split;
  const testFraction = testDatasetId === undefined ? config.split.testFraction : 0;
  const parts: Record<Part, { bitmaps: Uint8Array[]; labels: number[] }> = {
    train: { bitmaps: [], labels: [] }, validation: { bitmaps: [], labels: [] }, test: { bitmaps: [], labels: [] },
  };
  const fingerprint: unknown[] = [maxPerCategory, validationFraction, testFraction];
  // The catalogs are read once, not once per category: they list every shard of the dataset.
  const [row, testRow] = await Promise.all([store.getDataset(datasetId), testDatasetId === undefined ? undefined : store.getDataset(testDatasetId)]);
  // Every bitmap read from the training dataset, when a separate test dataset is scored: a test drawing the model
  // may have trained or been tuned on does not count as held out.
  const seen = testDatasetId === undefined ? null : new Set<string>();
  for (const [label, category] of categories.entries()) {
    const page = await store.readDrawings(datasetId, category, 0, maxPerCategory);
    if (page.total === 0) throw new Error(`No stored drawings of “${category}” in dataset “${datasetId}”: download or import them on the Data page first.`);
    for (let i = 0; i * BITMAP_BYTES < page.bitmaps.length; i++) {
      const part = parts[splitOf(`${category}/${i}`, validationFraction, testFraction)];
      const bitmap = page.bitmaps.subarray(i * BITMAP_BYTES, (i + 1) * BITMAP_BYTES);
      part.bitmaps.push(bitmap);
      part.labels.push(label);
      seen?.add(bitmapKey(bitmap));
    }
    fingerprint.push(category, catalogOf(row, category));
    if (testDatasetId !== undefined) fingerprint.push(`test:${category}`, catalogOf(testRow, category));
  }
  let testOverlap = 0;
  if (testDatasetId !== undefined) {
    // Up to maxPerCategory test drawings a category that the training dataset does not hold, read in order: a test
    // source that begins with the training drawings (Google's whole files, when the training set is their first
    // rows) is scored on the drawings after them.
    for (const [label, category] of categories.entries()) {
      let kept = 0;
      for (let offset = 0; kept < maxPerCategory;) {
        const test = await store.readDrawings(testDatasetId, category, offset, maxPerCategory);
        const count = test.bitmaps.length / BITMAP_BYTES;
        for (let i = 0; i < count && kept < maxPerCategory; i++) {
          const bitmap = test.bitmaps.subarray(i * BITMAP_BYTES, (i + 1) * BITMAP_BYTES);
          if (seen!.has(bitmapKey(bitmap))) {
            testOverlap++;
            continue;
          }
          parts.test.bitmaps.push(bitmap);
          parts.test.labels.push(label);
          kept++;
        }
        offset += count;
        if (count === 0 || offset >= test.total) break;
      }
    }
  }
  if (parts.train.labels.length === 0) throw new Error('No drawings left to train on after the validation and test split.');
  if (testDatasetId !== undefined && parts.test.labels.length === 0 && testOverlap > 0) {
    throw new Error(`Every drawing of the test dataset “${testDatasetId}” is also in the training dataset: test on other drawings of the same classes.`);
  }
  const pack = (part: Part): LabeledBitmaps => {
    const bitmaps = new Uint8Array(parts[part].bitmaps.length * BITMAP_BYTES);
    parts[part].bitmaps.forEach((b, i) => bitmaps.set(b, i * BITMAP_BYTES));
    return { bitmaps, labels: Int32Array.from(parts[part].labels) };
  };
  const data: TrainingData = {
    classNames: [...categories], imageSizePx: BITMAP_SIDE_PX, train: pack('train'), validation: pack('validation'), test: pack('test'),
  };
  return { data, datasetHash: await sha256Hex(new TextEncoder().encode(JSON.stringify(fingerprint))), testOverlap };
}

/** The checksums and sizes of a category's stored shards: what identifies the drawings read. */
function catalogOf(row: DatasetRecord | undefined, category: string): string[] {
  return (row?.shards ?? []).filter((s) => s.category === category).sort((a, b) => a.index - b.index).map((s) => `${s.index}:${s.drawingCount}:${s.sha256}`);
}
