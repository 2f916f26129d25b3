// src/core/zero-runs.ts: the shard bitmap coding round-trips any bytes exactly (long zero runs, long literal
// runs, real Quick, Draw! rows when ../shared is present) and reports every kind of damaged stream as null.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy } from '../../../src/core/npy.ts';
import { decodeZeroRuns, encodeZeroRuns } from '../../../src/core/zero-runs.ts';

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
