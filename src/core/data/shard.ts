// The binary shard format (v2; v1 still read) that `npm run dataset` writes and the ingest worker reads;
// documented in datasets/README.md. A shard holds drawings of one category: a 32-byte header, the 28×28
// bitmaps back to back (v2: zero-run coded where that is smaller), then optional strokes as UTF-8 JSON.
// Pure; runs in workers and in Node.
import { DataError } from '../errors.ts';
import type { Strokes } from './ndjson.ts';
import { decodeZeroRuns, encodeZeroRuns, zeroRunPixelCount } from './zero-runs.ts';

export const SHARD_MAGIC = 'QDSH';
/** The version written. */
export const SHARD_FORMAT_VERSION = 2;
/** The versions read (shards and manifests): v1 is v2 without bitmap coding. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];
export const SHARD_HEADER_BYTES = 32;

/** How a v2 shard stores its bitmaps (header offset 20). */
export const BitmapEncoding = { Raw: 0, ZeroRuns: 1 } as const;

export interface ShardContents {
  imageSizePx: number;
  /** Index of the first drawing within its category in this dataset; drawing ids derive from it. */
  firstIndex: number;
  drawingCount: number;
  /** drawingCount × imageSizePx² bytes. */
  bitmaps: Uint8Array;
  /** One entry a drawing, or null when the source had only bitmaps. */
  strokes: Strokes[] | null;
}

export function encodeShard(shard: Omit<ShardContents, 'drawingCount'>): Uint8Array {
  const pixels = shard.imageSizePx * shard.imageSizePx;
  if (shard.bitmaps.length % pixels !== 0) throw new Error('bitmaps length is not a whole number of images');
  const drawingCount = shard.bitmaps.length / pixels;
  if (shard.strokes !== null && shard.strokes.length !== drawingCount) throw new Error('strokes and bitmaps disagree in count');
  const strokesBytes = shard.strokes === null ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(shard.strokes));
  const runs = encodeZeroRuns(shard.bitmaps);
  const encoding = runs.length < shard.bitmaps.length ? BitmapEncoding.ZeroRuns : BitmapEncoding.Raw;
  const bitmapBytes = encoding === BitmapEncoding.ZeroRuns ? runs : shard.bitmaps;
  const out = new Uint8Array(SHARD_HEADER_BYTES + bitmapBytes.length + strokesBytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = SHARD_MAGIC.charCodeAt(i);
  view.setUint16(4, SHARD_FORMAT_VERSION, true);
  view.setUint16(6, shard.imageSizePx, true);
  view.setUint32(8, drawingCount, true);
  view.setUint32(12, shard.firstIndex, true);
  view.setUint32(16, strokesBytes.length, true);
  view.setUint16(20, encoding, true);
  view.setUint32(24, bitmapBytes.length, true);
  out.set(bitmapBytes, SHARD_HEADER_BYTES);
  out.set(strokesBytes, SHARD_HEADER_BYTES + bitmapBytes.length);
  return out;
}

/** A checked shard whose bitmaps are still as stored in the file: raw, or the zero-run stream. */
export interface OpenedShard extends Omit<ShardContents, 'bitmaps'> {
  /** A view into the file's bytes (no copy): the pixels when raw, the zero-run stream when coded. */
  storedBitmaps: Uint8Array;
  zeroRuns: boolean;
}

/** Decodes a shard. `file` names it in error messages. Raw bitmaps are a view into `bytes` (no copy). */
export function decodeShard(bytes: Uint8Array, file = 'the shard'): ShardContents {
  const { storedBitmaps, zeroRuns, ...shard } = openShard(bytes, file);
  const pixelBytes = shard.drawingCount * shard.imageSizePx * shard.imageSizePx;
  const bitmaps = zeroRuns ? decodeZeroRuns(storedBitmaps, pixelBytes) : storedBitmaps;
  if (bitmaps === null) throw damagedRuns(file, shard.drawingCount);
  return { ...shard, bitmaps };
}

const damagedRuns = (file: string, drawingCount: number): DataError =>
  new DataError('bad-record', `${file} has damaged bitmaps: their zero-run coding does not give ${drawingCount} drawings.`, file);

/**
 * Checks a shard as `decodeShard` does (header, sizes, the zero-run stream's pixel count, strokes) without
 * decoding its bitmaps, so coded bitmaps can be stored as they arrived and decoded when read.
 */
export function openShard(bytes: Uint8Array, file = 'the shard'): OpenedShard {
  if (bytes.length === 0) throw new DataError('empty', `${file} is empty.`, file);
  if (bytes.length < SHARD_HEADER_BYTES) throw new DataError('truncated', `${file} is truncated: it ends inside its header.`, file);
  const magic = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0, bytes[2] ?? 0, bytes[3] ?? 0);
  if (magic !== SHARD_MAGIC) throw new DataError('bad-header', `${file} is not a Doodle Lab shard (wrong header).`, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (!READABLE_FORMAT_VERSIONS.includes(version)) {
    throw new DataError('bad-header', `${file} is shard format v${version}; this app reads v${READABLE_FORMAT_VERSIONS.join(' and v')}. Rebuild the dataset.`, file);
  }
  const imageSizePx = view.getUint16(6, true);
  const drawingCount = view.getUint32(8, true);
  const firstIndex = view.getUint32(12, true);
  const strokesBytes = view.getUint32(16, true);
  const pixelBytes = drawingCount * imageSizePx * imageSizePx;
  const encoding: number = version === 1 ? BitmapEncoding.Raw : view.getUint16(20, true);
  if (encoding !== BitmapEncoding.Raw && encoding !== BitmapEncoding.ZeroRuns) {
    throw new DataError('bad-header', `${file} stores its bitmaps in an unknown encoding (${encoding}). Rebuild the dataset.`, file);
  }
  const bitmapBytes = version === 1 ? pixelBytes : view.getUint32(24, true);
  if (encoding === BitmapEncoding.Raw && bitmapBytes !== pixelBytes) {
    throw new DataError('bad-header', `${file} lists ${bitmapBytes} bitmap bytes for ${drawingCount} drawings of ${imageSizePx}×${imageSizePx} (${pixelBytes}).`, file);
  }
  const expected = SHARD_HEADER_BYTES + bitmapBytes + strokesBytes;
  if (bytes.length < expected) {
    throw new DataError('truncated', `${file} is truncated: ${bytes.length} of ${expected} bytes.`, file);
  }
  if (bytes.length > expected) throw new DataError('bad-header', `${file} has ${bytes.length - expected} unexpected trailing bytes.`, file);
  const storedBitmaps = bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + bitmapBytes);
  const zeroRuns = encoding === BitmapEncoding.ZeroRuns;
  if (zeroRuns && zeroRunPixelCount(storedBitmaps) !== pixelBytes) throw damagedRuns(file, drawingCount);
  let strokes: Strokes[] | null = null;
  if (strokesBytes > 0) {
    try {
      // The writer encodes exactly this shape; a checksum guards the bytes before we get here.
      strokes = JSON.parse(new TextDecoder().decode(bytes.subarray(SHARD_HEADER_BYTES + bitmapBytes))) as Strokes[];
    } catch {
      throw new DataError('bad-record', `${file} has unreadable strokes.`, file);
    }
    if (!Array.isArray(strokes) || strokes.length !== drawingCount) {
      throw new DataError('bad-record', `${file} has strokes for ${Array.isArray(strokes) ? strokes.length : 0} drawings, not ${drawingCount}.`, file);
    }
  }
  return { imageSizePx, firstIndex, drawingCount, storedBitmaps, zeroRuns, strokes };
}
