// src/core/data/npy.ts: Google's numpy_bitmap files decode to exactly their rows; every malformed file is
// refused with a typed error that names it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, parseNpyHeader } from '../../../src/core/data/npy.ts';
import { errorOf, fixtureRows, HAS_SHARED_QUICKDRAW, makeNpy, SHARED_QUICKDRAW } from '../fixtures.ts';

describe('parseNpyHeader', () => {
  it('reads rows and where the data starts (v1 and v2)', () => {
    expect(parseNpyHeader(makeNpy(5))).toEqual({ dataOffsetBytes: 128, rows: 5, rowBytes: 784 });
    const v2 = parseNpyHeader(makeNpy(3, { version: 2 }));
    expect(v2?.rows).toBe(3);
    expect((v2?.dataOffsetBytes ?? 0) % 64).toBe(0);
  });

  it('asks for more bytes while the header is incomplete', () => {
    const bytes = makeNpy(2);
    expect(parseNpyHeader(bytes.subarray(0, 4))).toBeNull();
    expect(parseNpyHeader(bytes.subarray(0, 64))).toBeNull();
    expect(parseNpyHeader(bytes.subarray(0, 128))?.rows).toBe(2);
  });

  it.each([
    ['wrong dtype', makeNpy(1, { descr: '<f4' }), /uint8/],
    ['Fortran order', makeNpy(1, { fortranOrder: true }), /Fortran/],
    ['wrong shape', makeNpy(1, { shape: '(1, 785)' }), /expected \(N, 784\)/],
    ['one-dimensional', makeNpy(1, { shape: '(784,)' }), /expected \(N, 784\)/],
  ])('refuses %s', (_, bytes, message) => {
    const error = errorOf(() => parseNpyHeader(bytes, 'x.npy'));
    expect(error.code).toBe('bad-header');
    expect(error.message).toMatch(message);
    expect(error.file).toBe('x.npy');
  });

  it('calls a short file with the wrong magic "not .npy", not "truncated"', () => {
    const error = errorOf(() => decodeNpy(new TextEncoder().encode('hello'), 'hello.npy'));
    expect(error.code).toBe('bad-header');
    expect(error.message).toContain('hello.npy is not a NumPy .npy file');
  });
});

describe('decodeNpy', () => {
  it('returns every row unchanged, or the first maxRows', () => {
    expect(decodeNpy(makeNpy(4)).bitmaps).toEqual(fixtureRows(4));
    const first = decodeNpy(makeNpy(4), 'f.npy', 2);
    expect(first.rows).toBe(2);
    expect(first.bitmaps).toEqual(fixtureRows(2));
  });

  it('refuses truncated, empty and zero-row files, naming them', () => {
    const bytes = makeNpy(5);
    const truncated = errorOf(() => decodeNpy(bytes.subarray(0, bytes.length - 800), 'cut.npy'));
    expect(truncated.code).toBe('truncated');
    expect(truncated.message).toBe('cut.npy is truncated: its header promises 5 drawings but only 3 are complete.');
    expect(errorOf(() => decodeNpy(bytes.subarray(0, 50), 'head.npy')).code).toBe('truncated');
    expect(errorOf(() => decodeNpy(new Uint8Array(0), 'e.npy')).message).toBe('e.npy is empty.');
    expect(errorOf(() => decodeNpy(makeNpy(0), 'z.npy')).code).toBe('empty');
  });

  it('still reads the first rows of a file truncated further on', () => {
    const bytes = makeNpy(5);
    expect(decodeNpy(bytes.subarray(0, bytes.length - 800), 'cut.npy', 2).bitmaps).toEqual(fixtureRows(2));
  });
});

describe.skipIf(!HAS_SHARED_QUICKDRAW)('real numpy_bitmap files (needs ../shared/quickdraw; skipped where it is absent)', () => {
  it('decodes cat.npy as 3000 white-on-black 28×28 bitmaps', () => {
    const { rows, bitmaps } = decodeNpy(new Uint8Array(readFileSync(path.join(SHARED_QUICKDRAW, 'numpy_bitmap', 'cat.npy'))));
    expect(rows).toBe(3000);
    expect(bitmaps.length).toBe(3000 * 784);
    // Strokes are white on a black background: most pixels of a drawing are 0, the ink reaches 255.
    const first = bitmaps.subarray(0, 784);
    expect(first.filter((v) => v === 0).length).toBeGreaterThan(392);
    expect(Math.max(...first)).toBe(255);
  });
});
