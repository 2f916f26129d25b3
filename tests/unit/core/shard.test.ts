// src/core/shard.ts: shard format v1 round-trips bitmaps and strokes byte for byte, keeps its documented
// header layout, and refuses truncated, foreign, wrong-version and over-long files with typed errors.
import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard, SHARD_HEADER_BYTES } from '../../../src/core/shard.ts';
import { errorOf, fixtureRows, simplifiedDrawing } from '../fixtures.ts';

const bitmaps = fixtureRows(3);
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

  it('writes the documented 32-byte little-endian header', () => {
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 1000, bitmaps, strokes });
    const view = new DataView(bytes.buffer);
    const strokesBytes = new TextEncoder().encode(JSON.stringify(strokes)).length;
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('QDSH');
    expect([view.getUint16(4, true), view.getUint16(6, true), view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true)])
      .toEqual([1, 28, 3, 1000, strokesBytes]);
    expect([...bytes.subarray(20, 32)]).toEqual(new Array(12).fill(0));
    expect(bytes.subarray(32, 32 + 3 * 784)).toEqual(bitmaps);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(32 + 3 * 784)))).toEqual(strokes);
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
    new DataView(bytes.buffer).setUint16(4, 2, true);
    const error = errorOf(() => decodeShard(bytes, 's.qds'));
    expect(error.code).toBe('bad-header');
    expect(error.message).toMatch(/v2.*Rebuild the dataset/);
  });

  it('unreadable strokes', () => {
    const bytes = good.slice();
    bytes[32 + 3 * 784] = 0x7d; // "}" where the JSON's opening "[" was
    expect(errorOf(() => decodeShard(bytes, 's.qds')).code).toBe('bad-record');
  });
});
