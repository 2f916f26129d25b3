// Reads NumPy .npy files as Google publishes Quick, Draw! bitmaps: version 1.0/2.0, dtype uint8, C order,
// shape (N, 784). Pure; runs in workers and in Node. Can parse the header alone, so callers can stream rows.
import { DataError } from '../errors.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX } from './render.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

export interface NpyHeader {
  /** Bytes before the first row: magic, version, header length and the header text. */
  dataOffsetBytes: number;
  rows: number;
  rowBytes: number;
}

/**
 * Parses the header at the start of `bytes`. Returns null when more bytes are needed to see the whole
 * header; throws DataError('bad-header') when it is not an (N, 784) uint8 array in C order.
 */
export function parseNpyHeader(bytes: Uint8Array, file = 'the .npy file'): NpyHeader | null {
  // Check the magic on whatever has arrived, so a short non-.npy file is called that, not "truncated".
  for (let i = 0; i < Math.min(MAGIC.length, bytes.length); i++) {
    if (bytes[i] !== MAGIC[i]) throw new DataError('bad-header', `${file} is not a NumPy .npy file (wrong magic bytes).`, file);
  }
  if (bytes.length < 10) return null;
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let textStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    textStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) return null;
    headerLength = view.getUint32(8, true);
    textStart = 12;
  } else {
    throw new DataError('bad-header', `${file} uses .npy format version ${String(major)}, which is not supported.`, file);
  }
  if (bytes.length < textStart + headerLength) return null;
  const text = new TextDecoder('latin1').decode(bytes.subarray(textStart, textStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new DataError('bad-header', `${file} has an unreadable .npy header.`, file);
  }
  if (descr !== '|u1' && descr !== '<u1' && descr !== 'u1') {
    throw new DataError('bad-header', `${file} holds ${descr} values; Quick, Draw! bitmaps are uint8 (|u1).`, file);
  }
  if (fortran === 'True') throw new DataError('bad-header', `${file} is in Fortran order; expected C order.`, file);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.length !== 2 || shape.some((n) => !Number.isInteger(n) || n < 0) || shape[1] !== BITMAP_BYTES) {
    throw new DataError('bad-header', `${file} has shape (${shapeText}); expected (N, ${BITMAP_BYTES}) for ${BITMAP_SIDE_PX}×${BITMAP_SIDE_PX} bitmaps.`, file);
  }
  return { dataOffsetBytes: textStart + headerLength, rows: shape[0] ?? 0, rowBytes: BITMAP_BYTES };
}

export interface NpyBitmaps {
  rows: number;
  /** rows × 784 bytes, white (255) strokes on black (0), row-major. A view into the input. */
  bitmaps: Uint8Array;
}

/** Decodes a whole .npy file, keeping at most `maxRows` rows. Throws DataError on a bad or short file. */
export function decodeNpy(bytes: Uint8Array, file = 'the .npy file', maxRows = Infinity): NpyBitmaps {
  if (bytes.length === 0) throw new DataError('empty', `${file} is empty.`, file);
  const header = parseNpyHeader(bytes, file);
  if (header === null) throw new DataError('truncated', `${file} ends inside its header.`, file);
  if (header.rows === 0) throw new DataError('empty', `${file} holds no drawings.`, file);
  const rows = Math.min(header.rows, maxRows);
  const end = header.dataOffsetBytes + rows * header.rowBytes;
  if (bytes.length < end) {
    const have = Math.floor((bytes.length - header.dataOffsetBytes) / header.rowBytes);
    throw new DataError('truncated', `${file} is truncated: its header promises ${header.rows} drawings but only ${have} are complete.`, file);
  }
  return { rows, bitmaps: bytes.subarray(header.dataOffsetBytes, end) };
}
