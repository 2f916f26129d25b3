// Local import in real Chromium: Google's .npy and .ndjson files, a folder of PNGs drawn with OffscreenCanvas
// and decoded the way the data worker does, and files that cannot be imported being skipped with a reason.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ImportFile, ImportProgress } from '../../src/core/ingest/ingest-protocol.ts';
import { imageToBitmap, importFiles, type DecodedImage } from '../../src/core/ingest/import.ts';
import type { Strokes } from '../../src/core/data/ndjson.ts';
import { BITMAP_BYTES, strokesToBitmap } from '../../src/core/data/render.ts';
import type { DrawingStore } from '../../src/core/data/store.ts';
import { drawingsOf, freshStore } from './helpers.ts';

let store: DrawingStore;
let dispose: () => Promise<void>;
beforeEach(async () => ({ store, dispose } = await freshStore()));
afterEach(async () => dispose());

/** A NumPy v1.0 file holding `bitmaps` as (N, 784) uint8, as Google publishes numpy_bitmap. */
function npy(bitmaps: Uint8Array): ArrayBuffer {
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${bitmaps.length / BITMAP_BYTES}, 784), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + bitmaps.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(bitmaps, 10 + header.length);
  return out.buffer;
}

const text = (value: string): ArrayBuffer => new TextEncoder().encode(value).buffer;
const ndjsonLine = (word: string, drawing: Strokes): string => JSON.stringify({ word, countrycode: 'FR', timestamp: '2017-03-01', recognized: true, key_id: '1', drawing });

/** A PNG of a dark diagonal stroke on `background`, encoded by the browser itself. */
async function png(background: string, ink: string, width = 120, height = 90): Promise<ArrayBuffer> {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('no 2D canvas');
  context.fillStyle = background;
  context.fillRect(0, 0, width, height);
  context.strokeStyle = ink;
  context.lineWidth = 12;
  context.beginPath();
  context.moveTo(width * 0.2, height * 0.2);
  context.lineTo(width * 0.8, height * 0.8);
  context.stroke();
  return (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer();
}

/** The same decoding the data worker does: createImageBitmap, then read the pixels back through a canvas. */
async function decodeImage(bytes: Uint8Array<ArrayBuffer>): Promise<DecodedImage> {
  const bitmap = await createImageBitmap(new Blob([bytes]));
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
  if (context === null) throw new Error('no 2D canvas');
  context.drawImage(bitmap, 0, 0);
  return { width: bitmap.width, height: bitmap.height, rgba: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
}

async function imported(): Promise<Record<string, number>> {
  const dataset = (await store.listDatasets()).find((d) => d.datasetId === 'imported');
  return Object.fromEntries((dataset?.categories ?? []).map((c) => [c.name, c.storedDrawings]));
}

describe('importFiles', () => {
  test('imports .npy, simplified and raw .ndjson and a folder of images; skips what it cannot read', async () => {
    const simplified: Strokes[] = [[[[0, 100, 255], [0, 200, 30]]], [[[10, 20], [30, 250]], [[200, 210], [5, 9]]], [[[0, 255], [128, 128]]]];
    const raw: Strokes[] = [[[[400, 420, 500], [300, 310, 380], [0, 16, 40]]], [[[10, 90], [10, 12], [0, 30]]]];
    const files: ImportFile[] = [
      { path: 'café au lait.npy', bytes: npy(drawingsOf('café', 0, 12)) },
      { path: 'The Eiffel Tower.ndjson', bytes: text(simplified.map((d) => ndjsonLine('The Eiffel Tower', d)).join('\n') + '\n{"word": "The Eiffel') },
      { path: 'zigzag.ndjson', bytes: text(raw.map((d) => ndjsonLine('zigzag', d)).join('\n')) },
      { path: 'notes.txt', bytes: text('not a drawing') },
      { path: 'shapes/one.png', bytes: await png('#ffffff', '#000000') },
      { path: 'shapes/two.PNG', bytes: await png('#f4f4f4', '#202020', 60, 140) },
      { path: 'shapes/broken.png', bytes: text('PNG? no') },
      { path: 'cafe\u0301 au lait/drawn.png', bytes: await png('#ffffff', '#000000') },
      { path: 'loose.png', bytes: await png('#ffffff', '#000000') },
      { path: 'empty.npy', bytes: new ArrayBuffer(0) },
    ];
    const events: ImportProgress[] = [];
    const result = await importFiles(files, { store, decodeImage, onProgress: (e) => void events.push(e) });

    expect(result).toEqual({ storedDrawings: 12 + 3 + 2 + 3, skippedFiles: 4 });
    // The NFD folder name "café" (from macOS) and the NFC file name are one category.
    expect(await imported()).toEqual({ 'café au lait': 13, 'The Eiffel Tower': 3, zigzag: 2, shapes: 2 });
    expect((await store.readDrawings('imported', 'café au lait', 0, 12)).bitmaps).toEqual(drawingsOf('café', 0, 12));
    const eiffel = await store.readDrawings('imported', 'The Eiffel Tower', 0, 10);
    simplified.forEach((drawing, i) => expect(eiffel.bitmaps.subarray(i * BITMAP_BYTES, (i + 1) * BITMAP_BYTES)).toEqual(strokesToBitmap(drawing)));
    const zigzag = await store.readDrawings('imported', 'zigzag', 0, 10);
    expect(zigzag.bitmaps.subarray(0, BITMAP_BYTES)).toEqual(strokesToBitmap(raw[0] ?? []));

    const skipped = events.flatMap((e) => (e.kind === 'file-skipped' ? [e.error] : []));
    expect(skipped.map((e) => [e.code, e.file])).toEqual([
      ['not-image', 'notes.txt'], ['not-image', 'shapes/broken.png'], ['bad-record', 'loose.png'], ['empty', 'empty.npy'],
    ]);
    expect(skipped[0]?.message).toMatch(/notes\.txt is not something Doodle Lab can import/);
    expect(events.at(-1)).toEqual({ kind: 'done', storedDrawings: 20, skippedFiles: 4 });
    expect(events.flatMap((e) => (e.kind === 'file-stored' ? [e.path] : []))).toContain('shapes/two.PNG');
  });

  test('an image becomes white strokes on black: inverted from light paper, letterboxed, area-averaged', async () => {
    const light = imageToBitmap(await decodeImage(new Uint8Array(await png('#ffffff', '#000000', 120, 90))));
    // Corners are background (black after inverting); the diagonal through the middle is ink (white).
    expect(light[0]).toBe(0);
    expect(light[27 * 28 + 27]).toBe(0);
    expect(light[14 * 28 + 14]).toBeGreaterThan(200);
    // A 120×90 image is letterboxed: the top rows of the square hold no image, only background.
    expect(Math.max(...light.subarray(0, 28 * 3))).toBe(0);

    const dark = imageToBitmap(await decodeImage(new Uint8Array(await png('#000000', '#ffffff', 56, 56))));
    expect(dark[0]).toBe(0);
    expect(dark[14 * 28 + 14]).toBeGreaterThan(200);

    // Area averaging on a 56×56 image (2×2 source pixels a target pixel): 14 white columns on the left fill
    // exactly 7 target columns, and a single white column fills half of one.
    const left = new Uint8Array(56 * 56 * 4).map((_, i) => (i % 4 === 3 ? 255 : (Math.floor(i / 4) % 56) < 14 ? 255 : 0));
    const leftBitmap = imageToBitmap({ width: 56, height: 56, rgba: left });
    expect([leftBitmap[14 * 28 + 6], leftBitmap[14 * 28 + 7]]).toEqual([255, 0]);
    const band = new Uint8Array(56 * 56 * 4).map((_, i) => (i % 4 === 3 ? 255 : (Math.floor(i / 4) % 56) === 28 ? 255 : 0));
    const bandBitmap = imageToBitmap({ width: 56, height: 56, rgba: band });
    expect(bandBitmap[14 * 28 + 14]).toBe(128);
  });
});
