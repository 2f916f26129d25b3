// src/core/data/zero-runs.ts: the shard bitmap coding round-trips any bytes exactly (long zero runs, long literal
// runs, real Quick, Draw! rows when ../shared is present) and reports every kind of damaged stream as null.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy } from '../../../src/core/data/npy.ts';
import { decodeZeroRuns, encodeZeroRuns, truncateZeroRuns, zeroRunPixelCount } from '../../../src/core/data/zero-runs.ts';

const roundTrip = (pixels: Uint8Array): Uint8Array | null => decodeZeroRuns(encodeZeroRuns(pixels), pixels.length);

describe('zero-run coding', () => {
  it.each([
    ['nothing', new Uint8Array(0)],
    ['all zeros, runs longer than 255', new Uint8Array(2000)],
    ['no zeros, literal runs longer than 255', new Uint8Array(2000).fill(9)],
    ['alternating', Uint8Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 0 : i % 256 || 1))],
    ['random bytes', Uint8Array.from({ length: 5000 }, (_, i) => ((i * 2654435761) >>> 24) & (i % 3 === 0 ? 0 : 255))],
    ['ends in zeros', Uint8Array.from({ length: 600 }, (_, i) => (i < 300 ? 200 : 0))],
  ])('round-trips %s', (_, pixels) => {
    expect(roundTrip(pixels)).toEqual(pixels);
  });

  it('costs at most 2 bytes per 255 when nothing is zero', () => {
    expect(encodeZeroRuns(new Uint8Array(255 * 4).fill(1)).length).toBe(255 * 4 + 2 * 4);
  });

  it.each([
    ['ends inside a token', Uint8Array.of(3)],
    ['literals past the end of the stream', Uint8Array.of(0, 5, 1, 2)],
    ['more pixels than asked for', Uint8Array.of(10, 0)],
    ['fewer pixels than asked for', Uint8Array.of(2, 1, 7)],
  ])('a damaged stream (%s) is null', (_, stream) => {
    expect(decodeZeroRuns(stream, 5)).toBeNull();
  });

  it('counts the pixels of a stream without decoding it, and says null where it ends inside a token', () => {
    const pixels = Uint8Array.from({ length: 3000 }, (_, i) => (i % 7 < 2 ? 0 : i % 250));
    expect(zeroRunPixelCount(encodeZeroRuns(pixels))).toBe(3000);
    expect(zeroRunPixelCount(encodeZeroRuns(new Uint8Array(2000)))).toBe(2000);
    expect(zeroRunPixelCount(new Uint8Array(0))).toBe(0);
    expect(zeroRunPixelCount(Uint8Array.of(3))).toBeNull();
    expect(zeroRunPixelCount(Uint8Array.of(0, 5, 1, 2))).toBeNull();
  });

  // Cut points inside a zero run, inside a literal run, on a token boundary, at 0 and at the very end.
  const sketch = Uint8Array.from({ length: 784 * 3 }, (_, i) => (i % 300 < 200 ? 0 : (i % 13) + 1));
  it.each([0, 1, 100, 200, 250, 300, 784, 784 * 2 + 5, 784 * 3])('cuts a coded stream at %i pixels, still coded, as decoding and cutting would', (length) => {
    const cut = truncateZeroRuns(encodeZeroRuns(sketch), length);
    expect(cut).not.toBeNull();
    expect(decodeZeroRuns(cut!, length)).toEqual(sketch.subarray(0, length));
  });

  it('cutting past the end, or a damaged stream, is null', () => {
    expect(truncateZeroRuns(encodeZeroRuns(sketch), sketch.length + 1)).toBeNull();
    expect(truncateZeroRuns(Uint8Array.of(0, 5, 1, 2), 3)).toBeNull();
    expect(truncateZeroRuns(Uint8Array.of(3), 2)).toBeNull();
  });

  const bitmaps = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'shared', 'quickdraw', 'numpy_bitmap');
  it.skipIf(!existsSync(bitmaps))('round-trips real Quick, Draw! bitmaps at about 2.5× smaller (needs ../shared/quickdraw; skipped where it is absent)', () => {
    for (const category of ['cat', 'rainbow']) {
      const file = path.join(bitmaps, `${category}.npy`);
      const pixels = decodeNpy(new Uint8Array(readFileSync(file)), file, 3000).bitmaps;
      const coded = encodeZeroRuns(pixels);
      // Buffer.equals: toEqual walks 2.35 MB element by element for seconds.
      expect(Buffer.from(decodeZeroRuns(coded, pixels.length) ?? []).equals(Buffer.from(pixels))).toBe(true);
      console.log(`${category}: ${pixels.length} bytes → ${coded.length} (${(pixels.length / coded.length).toFixed(2)}×)`);
      expect(pixels.length / coded.length).toBeGreaterThan(2);
    }
  });
});
