// The IndexedDB repository in real Chromium: what goes in comes out byte for byte, counts are exact, and
// deleting one dataset leaves the others alone. A real quota failure keeps earlier shards.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Strokes } from '../../src/core/data/ndjson.ts';
import type { DrawingStore } from '../../src/core/data/store.ts';
import { BITMAP_BYTES } from '../../src/core/data/render.ts';
import { drawingsOf, freshStore } from './helpers.ts';

const QUICKDRAW = { datasetId: 'quickdraw', label: 'Quick, Draw!', source: 'https://data.example/manifest.json', manifestSha256: 'ab'.repeat(32) };
const IMPORTED = { datasetId: 'imported', label: 'Imported files', source: 'local' };

let store: DrawingStore;
let dispose: () => Promise<void>;
beforeEach(async () => ({ store, dispose } = await freshStore()));
afterEach(async () => dispose());

function shard(category: string, index: number, perShard: number) {
  return {
    category, index, firstIndex: index * perShard, bitmaps: drawingsOf(category, index * perShard, (index + 1) * perShard),
    strokes: null, sha256: String(index).repeat(64).slice(0, 64), sizeBytes: 32 + perShard * BITMAP_BYTES,
  };
}

describe('DrawingStore', () => {
  test('stores shards and reads them back across shard boundaries, with exact counts', async () => {
    await store.putShard(QUICKDRAW, shard('cat', 0, 100));
    await store.putShard(QUICKDRAW, shard('cat', 1, 100));
    await store.putShard(QUICKDRAW, shard('dog', 0, 100));
    await store.putShard(IMPORTED, shard('café au lait', 0, 7));

    const datasets = await store.listDatasets();
    const quickdraw = datasets.find((d) => d.datasetId === 'quickdraw');
    expect(quickdraw?.storedDrawings).toBe(300);
    expect(quickdraw?.storedBytes).toBe(3 * (32 + 100 * BITMAP_BYTES));
    expect(quickdraw?.categories.map((c) => [c.name, c.storedDrawings])).toEqual([['cat', 200], ['dog', 100]]);
    expect(datasets.find((d) => d.datasetId === 'imported')?.categories).toEqual([
      { datasetId: 'imported', name: 'café au lait', storedDrawings: 7, storedBytes: 32 + 7 * BITMAP_BYTES },
    ]);

    const page = await store.readDrawings('quickdraw', 'cat', 90, 20);
    expect(page.total).toBe(200);
    expect(page.offset).toBe(90);
    expect(page.bitmaps).toEqual(drawingsOf('cat', 90, 110));
    const tail = await store.readDrawings('quickdraw', 'cat', 195, 96);
    expect(tail.bitmaps).toEqual(drawingsOf('cat', 195, 200));
    expect((await store.readDrawings('quickdraw', 'cat', 500, 10)).bitmaps.length).toBe(0);
    expect((await store.readDrawings('quickdraw', 'bird', 0, 10)).total).toBe(0);

    const keys = await store.storedShardKeys('quickdraw');
    expect([...keys.keys()].sort()).toEqual(['quickdraw/cat/0', 'quickdraw/cat/1', 'quickdraw/dog/0']);
    expect(keys.get('quickdraw/cat/1')).toEqual({ sha256: '1'.repeat(64), drawingCount: 100 });
  });

  test('putting a shard again replaces it instead of adding a duplicate', async () => {
    await store.putShard(QUICKDRAW, shard('cat', 0, 100));
    await store.putShard(QUICKDRAW, shard('cat', 0, 100));
    expect((await store.listDatasets())[0]?.storedDrawings).toBe(100);
  });

  test('a write the browser fails for another reason than a full disk says so, with its words, and keeps what was stored', async () => {
    await store.putShard(QUICKDRAW, shard('cat', 0, 100));
    // IndexedDB cannot clone a function: a real DOMException from inside the write's transaction.
    const unclonable = { ...shard('cat', 1, 1), strokes: [(() => undefined) as unknown as Strokes] };
    await expect(store.putShard(QUICKDRAW, unclonable)).rejects.toMatchObject({
      code: 'storage', message: expect.stringMatching(/could not store the cat drawings \(DataCloneError: .+\); everything stored before is kept\. Try again/),
    });
    expect((await store.listDatasets())[0]?.storedDrawings).toBe(100);
    expect((await store.readDrawings('quickdraw', 'cat', 0, 200)).bitmaps).toEqual(drawingsOf('cat', 0, 100));
  });

  test('deleting one dataset leaves the others untouched', async () => {
    const mine = { datasetId: 'my-drawings', label: 'My drawings', source: 'local' };
    await store.putShard(QUICKDRAW, shard('cat', 0, 100));
    await store.putShard(IMPORTED, shard('cat', 0, 50));
    await store.putShard(mine, shard('cat', 0, 3));
    // "my-drawings" sorts between the other two ids, so a key range too wide on either side would show.
    await store.deleteDataset('my-drawings');
    expect((await store.listDatasets()).map((d) => [d.datasetId, d.storedDrawings])).toEqual([['imported', 50], ['quickdraw', 100]]);
    expect((await store.readDrawings('imported', 'cat', 0, 50)).bitmaps).toEqual(drawingsOf('cat', 0, 50));
    expect((await store.readDrawings('quickdraw', 'cat', 0, 100)).bitmaps).toEqual(drawingsOf('cat', 0, 100));
    await store.deleteDataset('quickdraw');
    expect((await store.listDatasets()).map((d) => [d.datasetId, d.storedDrawings])).toEqual([['imported', 50]]);
    expect((await store.readDrawings('imported', 'cat', 0, 50)).bitmaps).toEqual(drawingsOf('cat', 0, 50));
    expect((await store.readDrawings('quickdraw', 'cat', 0, 50)).total).toBe(0);
    expect((await store.storedShardKeys('quickdraw')).size).toBe(0);
  });

  test('addDrawings appends as the next shard, continuing the drawing count', async () => {
    const mine = { datasetId: 'my-drawings', label: 'My drawings', source: 'local' };
    const first = await store.addDrawings(mine, 'zigzag mine', drawingsOf('z', 0, 1), [[[[0, 1], [0, 1]]]]);
    expect(first.storedDrawings).toBe(1);
    const second = await store.addDrawings(mine, 'zigzag mine', drawingsOf('z', 1, 3), null);
    expect(second).toMatchObject({ datasetId: 'my-drawings', name: 'zigzag mine', storedDrawings: 3 });
    expect([...(await store.storedShardKeys('my-drawings')).keys()].sort()).toEqual(['my-drawings/zigzag mine/0', 'my-drawings/zigzag mine/1']);
    expect((await store.readDrawings('my-drawings', 'zigzag mine', 0, 10)).bitmaps).toEqual(drawingsOf('z', 0, 3));
  });
});
