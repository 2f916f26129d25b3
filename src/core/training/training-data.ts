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
}

type Part = 'train' | 'validation' | 'test';

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
  for (const [label, category] of categories.entries()) {
    const page = await store.readDrawings(datasetId, category, 0, maxPerCategory);
    if (page.total === 0) throw new Error(`No stored drawings of “${category}” in dataset “${datasetId}”: download or import them on the Data page first.`);
    for (let i = 0; i * BITMAP_BYTES < page.bitmaps.length; i++) {
      const part = parts[splitOf(`${category}/${i}`, validationFraction, testFraction)];
      part.bitmaps.push(page.bitmaps.subarray(i * BITMAP_BYTES, (i + 1) * BITMAP_BYTES));
      part.labels.push(label);
    }
    fingerprint.push(category, catalogOf(row, category));
    if (testDatasetId !== undefined) {
      const test = await store.readDrawings(testDatasetId, category, 0, maxPerCategory);
      for (let i = 0; i * BITMAP_BYTES < test.bitmaps.length; i++) {
        parts.test.bitmaps.push(test.bitmaps.subarray(i * BITMAP_BYTES, (i + 1) * BITMAP_BYTES));
        parts.test.labels.push(label);
      }
      fingerprint.push(`test:${category}`, catalogOf(testRow, category));
    }
  }
  if (parts.train.labels.length === 0) throw new Error('No drawings left to train on after the validation and test split.');
  const pack = (part: Part): LabeledBitmaps => {
    const bitmaps = new Uint8Array(parts[part].bitmaps.length * BITMAP_BYTES);
    parts[part].bitmaps.forEach((b, i) => bitmaps.set(b, i * BITMAP_BYTES));
    return { bitmaps, labels: Int32Array.from(parts[part].labels) };
  };
  const data: TrainingData = {
    classNames: [...categories], imageSizePx: BITMAP_SIDE_PX, train: pack('train'), validation: pack('validation'), test: pack('test'),
  };
  return { data, datasetHash: await sha256Hex(new TextEncoder().encode(JSON.stringify(fingerprint))) };
}

/** The checksums and sizes of a category's stored shards: what identifies the drawings read. */
function catalogOf(row: DatasetRecord | undefined, category: string): string[] {
  return (row?.shards ?? []).filter((s) => s.category === category).sort((a, b) => a.index - b.index).map((s) => `${s.index}:${s.drawingCount}:${s.sha256}`);
}
