// Reading a config's drawings into the split: with a separate test dataset, a test drawing whose bitmap the training
// dataset also holds is left out, and the test set is filled from the drawings after it.
import { describe, expect, it } from 'vitest';
import { BITMAP_BYTES } from '../../../src/core/data/render.ts';
import type { DrawingStore } from '../../../src/core/data/store.ts';
import { loadTrainingData } from '../../../src/core/training/training-data.ts';
import { parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';

/** Bitmap `n` of a family: its first bytes spell the family and n, so every (family, n) differs from every other. */
function bitmap(family: number, n: number): Uint8Array {
  const b = new Uint8Array(BITMAP_BYTES);
  b[0] = family;
  b[1] = n & 255;
  b[2] = n >> 8;
  return b;
}

/** A store of datasets → categories → bitmaps, answering the two reads loadTrainingData makes. */
function storeOf(datasets: Record<string, Record<string, Uint8Array[]>>): { store: DrawingStore; reads: string[] } {
  const reads: string[] = [];
  const store = {
    getDataset: async () => undefined,
    readDrawings: async (datasetId: string, category: string, offset: number, limit: number) => {
      reads.push(`${datasetId}/${category}@${offset}`);
      const all = datasets[datasetId]?.[category] ?? [];
      const page = all.slice(offset, offset + limit);
      const bitmaps = new Uint8Array(page.length * BITMAP_BYTES);
      page.forEach((b, i) => bitmaps.set(b, i * BITMAP_BYTES));
      return { datasetId, category, offset, total: all.length, bitmaps };
    },
  };
  return { store: store as unknown as DrawingStore, reads };
}

const config = (testDatasetId?: string) => parseConfig({
  ...PRESETS['tiny'],
  dataset: { datasetId: 'train', categories: ['cat', 'dog'], maxPerCategory: 20, ...(testDatasetId === undefined ? {} : { testDatasetId }) },
});

/** The test part's bitmaps as "family:n" labels, in order. */
function testIds(bitmaps: Uint8Array): string[] {
  const ids: string[] = [];
  for (let i = 0; i < bitmaps.length; i += BITMAP_BYTES) ids.push(`${bitmaps[i]}:${bitmaps[i + 1]! + bitmaps[i + 2]! * 256}`);
  return ids;
}

describe('loadTrainingData with a separate test dataset', () => {
  const range = (family: number, from: number, to: number) => Array.from({ length: to - from }, (_, i) => bitmap(family, from + i));

  it('leaves out test drawings the training dataset holds, and scores on the ones after them', async () => {
    // The test source is "the whole file": it begins with the 20 training drawings of each category, as Google's
    // files do when the training set is their first rows; one dog test drawing repeats a cat training drawing.
    const { store, reads } = storeOf({
      train: { cat: range(1, 0, 20), dog: range(2, 0, 20) },
      test: { cat: range(1, 0, 50), dog: [...range(2, 0, 20), bitmap(1, 5), ...range(2, 20, 45)] },
    });
    const { data, testOverlap } = await loadTrainingData(store, config('test'));
    expect(testOverlap).toBe(41);
    const ids = testIds(data.test.bitmaps);
    expect(ids).toEqual([...range(1, 20, 40), ...range(2, 20, 40)].map((b) => `${b[0]}:${b[1]}`));
    expect([...data.test.labels]).toEqual([...Array(20).fill(0), ...Array(20).fill(1)]);
    // Every training drawing is split into train and validation only: the test set is the other dataset.
    expect(data.train.labels.length + data.validation.labels.length).toBe(40);
    // Pages of maxPerCategory, read until the category has its 20 or its drawings run out.
    expect(reads.filter((r) => r.startsWith('test/cat'))).toEqual(['test/cat@0', 'test/cat@20']);
  });

  it('keeps every test drawing that is new, and stops where the test dataset ends', async () => {
    const { store } = storeOf({
      train: { cat: range(1, 0, 20), dog: range(2, 0, 20) },
      test: { cat: range(3, 0, 25), dog: [...range(2, 0, 20), ...range(4, 0, 5)] },
    });
    const { data, testOverlap } = await loadTrainingData(store, config('test'));
    expect(testOverlap).toBe(20);
    expect(testIds(data.test.bitmaps)).toEqual([...range(3, 0, 20), ...range(4, 0, 5)].map((b) => `${b[0]}:${b[1]}`));
  });

  it('refuses a test dataset that holds nothing but training drawings', async () => {
    const { store } = storeOf({
      train: { cat: range(1, 0, 20), dog: range(2, 0, 20) },
      test: { cat: range(1, 0, 20), dog: range(2, 5, 15) },
    });
    await expect(loadTrainingData(store, config('test'))).rejects.toThrow('Every drawing of the test dataset “test” is also in the training dataset');
  });

  it('reads only the training dataset without one, and reports no overlap', async () => {
    const { store, reads } = storeOf({ train: { cat: range(1, 0, 20), dog: range(2, 0, 20) } });
    const { data, testOverlap } = await loadTrainingData(store, config());
    expect(testOverlap).toBe(0);
    expect(reads).toEqual(['train/cat@0', 'train/dog@0']);
    expect(data.train.labels.length + data.validation.labels.length + data.test.labels.length).toBe(40);
  });
});
