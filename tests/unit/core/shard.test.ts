// src/core/data/shard.ts: shard format v2 round-trips bitmaps (zero-run coded where smaller, raw otherwise) and
// strokes byte for byte, keeps its documented header layout, still reads v1, and refuses truncated, foreign,
// wrong-version, damaged and over-long files with typed errors.
import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard, openShard, SHARD_HEADER_BYTES } from '../../../src/core/data/shard.ts';
import { decodeZeroRuns } from '../../../src/core/data/zero-runs.ts';
import { errorOf, fixtureRows, simplifiedDrawing } from '../fixtures.ts';

/** Hardly a zero anywhere: zero-run coding would be larger, so these stay raw. */
const bitmaps = fixtureRows(3);
/** Sketch-like: a few stroke pixels per row on a 0 background, as Quick, Draw! bitmaps are. */
const sketches = fixtureRows(3, (row, i) => (i % 28 >= 10 && i % 28 < 12 + row && i % 5 !== 0 ? 255 - row : 0));

/** A v1 shard, as the previous app version's `npm run dataset` wrote it: raw bitmaps, bytes 20–31 zero. */
function v1Shard(pixels: Uint8Array, firstIndex: number): Uint8Array {
  const out = new Uint8Array(SHARD_HEADER_BYTES + pixels.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode('QDSH'));
  view.setUint16(4, 1, true);
  view.setUint16(6, 28, true);
  view.setUint32(8, pixels.length / 784, true);
  view.setUint32(12, firstIndex, true);
  out.set(pixels, SHARD_HEADER_BYTES);
  return out;
}
const strokes = [simplifiedDrawing(1), simplifiedDrawing(2), [[[5, 6, 7], [8, 9, 10], [0, 12, 30]]]];

describe('encodeShard / decodeShard', () => {
  it('round-trips bitmaps without strokes', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 2000, bitmaps, strokes: null });
    expect(bytes.length).toBe(SHARD_HEADER_BYTES + 3 * 784);
    expect(decodeShard(bytes)).toEqual({ imageSizePx: 28, firstIndex: 2000, drawingCount: 3, bitmaps, strokes: null });
  });

  it('round-trips bitmaps with simplified and raw strokes', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps, strokes });
    const decoded = decodeShard(bytes);
    expect(decoded.bitmaps).toEqual(bitmaps);
    expect(decoded.strokes).toEqual(strokes);
  });

  it('writes the documented 32-byte little-endian header; raw bitmaps where coding would not shrink them', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 1000, bitmaps, strokes });
    const view = new DataView(bytes.buffer);
    const strokesBytes = new TextEncoder().encode(JSON.stringify(strokes)).length;
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('QDSH');
    expect([view.getUint16(4, true), view.getUint16(6, true), view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true)])
      .toEqual([2, 28, 3, 1000, strokesBytes]);
    expect([view.getUint16(20, true), view.getUint32(24, true)]).toEqual([0, 3 * 784]);
    expect([...bytes.subarray(22, 24), ...bytes.subarray(28, 32)]).toEqual(new Array(6).fill(0));
    expect(bytes.subarray(32, 32 + 3 * 784)).toEqual(bitmaps);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(32 + 3 * 784)))).toEqual(strokes);
  });

  it('zero-run codes sketch-like bitmaps (encoding 1), smaller, and decodes them exactly', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps: sketches, strokes });
    const view = new DataView(bytes.buffer);
    const coded = view.getUint32(24, true);
    expect(view.getUint16(20, true)).toBe(1);
    expect(coded).toBeLessThan(sketches.length / 2);
    expect(bytes.length).toBe(SHARD_HEADER_BYTES + coded + new TextEncoder().encode(JSON.stringify(strokes)).length);
    expect(decodeShard(bytes)).toEqual({ imageSizePx: 28, firstIndex: 0, drawingCount: 3, bitmaps: sketches, strokes });
  });

  it('openShard checks a shard but leaves coded bitmaps coded: a view of the stream in the file', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps: sketches, strokes });
    const coded = new DataView(bytes.buffer).getUint32(24, true);
    const opened = openShard(bytes);
    expect(opened.zeroRuns).toBe(true);
    expect(opened.storedBitmaps.buffer).toBe(bytes.buffer);
    expect([opened.storedBitmaps.byteOffset, opened.storedBitmaps.length]).toEqual([SHARD_HEADER_BYTES, coded]);
    expect(decodeZeroRuns(opened.storedBitmaps, sketches.length)).toEqual(sketches);
    expect(opened.strokes).toEqual(strokes);
    const raw = openShard(encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps, strokes: null }));
    expect([raw.zeroRuns, raw.storedBitmaps]).toEqual([false, bitmaps]);
  });

  it('still reads format v1 shards', () => {
    expect(decodeShard(v1Shard(sketches, 3000))).toEqual({ imageSizePx: 28, firstIndex: 3000, drawingCount: 3, bitmaps: sketches, strokes: null });
  });

  it('refuses to encode inconsistent input', () => {
    expect(() => encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps: new Uint8Array(785), strokes: null })).toThrow(/whole number/);
    expect(() => encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps, strokes: strokes.slice(1) })).toThrow(/disagree/);
  });
});

describe('decodeShard refuses bad files, naming them', () => {
  const good = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps, strokes });

  it.each([
    ['empty', new Uint8Array(0), 'empty', /s\.qds is empty/],
    ['cut inside the header', good.subarray(0, 20), 'truncated', /ends inside its header/],
    ['cut inside the bitmaps', good.subarray(0, 1000), 'truncated', new RegExp(`1000 of ${good.length} bytes`)],
    ['cut inside the strokes', good.subarray(0, good.length - 1), 'truncated', /truncated/],
    ['trailing bytes', new Uint8Array([...good, 0, 0]), 'bad-header', /2 unexpected trailing bytes/],
  ])('%s', (_, bytes, code, message) => {
    const error = errorOf(() => decodeShard(bytes, 's.qds'));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.file).toBe('s.qds');
  });

  it('a wrong header (not QDSH)', () => {
    const bytes = good.slice();
    bytes[0] = 0x50; // "PDSH"
    expect(errorOf(() => decodeShard(bytes, 's.qds')).message).toBe('s.qds is not a Doodle Lab shard (wrong header).');
  });

  it('another format version, with advice to rebuild', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint16(4, 3, true);
    const error = errorOf(() => decodeShard(bytes, 's.qds'));
    expect(error.code).toBe('bad-header');
    expect(error.message).toMatch(/v3; this app reads v1 and v2.*Rebuild the dataset/);
  });

  it('an unknown bitmap encoding', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint16(20, 7, true);
    expect(errorOf(() => decodeShard(bytes, 's.qds')).message).toMatch(/unknown encoding \(7\)/);
  });

  it('raw bitmaps whose listed size does not fit the drawing count', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint32(24, 3 * 784 - 1, true);
    expect(errorOf(() => decodeShard(bytes, 's.qds')).message).toMatch(/lists 2351 bitmap bytes for 3 drawings/);
  });

  it('damaged zero-run bitmaps', () => {
    const coded = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps: sketches, strokes: null });
    const bytes = coded.slice();
    bytes[SHARD_HEADER_BYTES] = 255; // the first zero run now skips past where its literals belong
    bytes[SHARD_HEADER_BYTES + 1] = 255;
    for (const read of [decodeShard, openShard]) {
      const error = errorOf(() => read(bytes, 's.qds'));
      expect(error.code).toBe('bad-record');
      expect(error.message).toMatch(/damaged bitmaps/);
    }
  });

  it('unreadable strokes', () => {
    const bytes = good.slice();
    bytes[32 + 3 * 784] = 0x7d; // "}" where the JSON's opening "[" was
    expect(errorOf(() => decodeShard(bytes, 's.qds')).code).toBe('bad-record');
  });
});
