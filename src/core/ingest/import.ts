// Local import into the "imported" dataset: Google's .npy bitmaps and .ndjson strokes (category = file name),
// and images in one folder per class (category = folder name) turned into 28×28 white-on-black bitmaps.
// Pure: the image decoder is injected (the data worker passes one built on createImageBitmap). Runs in workers.
import { DataError, isQuotaError, toErrorInfo } from '../errors.ts';
import type { CategorySummary, ImportFile, ImportProgress } from './ingest-protocol.ts';
import { parseRecord, type QuickDrawRecord, type Strokes } from '../data/ndjson.ts';
import { decodeNpy } from '../data/npy.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX, strokesToBitmap } from '../data/render.ts';
import type { DatasetInfo } from '../data/database.ts';

export const IMPORTED_DATASET: DatasetInfo = { datasetId: 'imported', label: 'Imported files', source: 'local' };

/** Drawings a stored shard holds at most: big .npy files become several shards, each its own transaction. */
export const IMPORT_SHARD_DRAWINGS = 1000;

const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp']);

export interface DecodedImage {
  width: number;
  height: number;
  /** width × height × 4 bytes, row-major RGBA, not premultiplied. */
  rgba: Uint8Array | Uint8ClampedArray;
}

export interface ImportStore {
  addDrawings(dataset: DatasetInfo, category: string, bitmaps: Uint8Array, strokes: Strokes[] | null): Promise<CategorySummary>;
}

export interface ImportDeps {
  store: ImportStore;
  /** Throws (anything) when the bytes are not a decodable image. */
  decodeImage: (bytes: Uint8Array<ArrayBuffer>) => Promise<DecodedImage>;
  onProgress: (event: ImportProgress) => void;
  /** Where the drawings go; "Imported files" unless said otherwise (the pipeline keeps train and test apart). */
  dataset?: DatasetInfo;
}

export interface ImportResult {
  storedDrawings: number;
  skippedFiles: number;
}

/** The class name: NFC so that "café" from a macOS folder (NFD) and a typed "café" are one category. */
const cleanName = (name: string): string => name.normalize('NFC').trim();

function splitPath(path: string): { folder: string | null; base: string; ext: string } {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  const file = parts[parts.length - 1] ?? path;
  const dot = file.lastIndexOf('.');
  return {
    folder: parts.length >= 2 ? cleanName(parts[parts.length - 2] ?? '') : null,
    base: cleanName(dot > 0 ? file.slice(0, dot) : file),
    ext: dot > 0 ? file.slice(dot + 1).toLowerCase() : '',
  };
}

/** Imports every file it can; files it cannot read are reported as skipped. A full disk stops the import. */
export async function importFiles(files: ImportFile[], deps: ImportDeps): Promise<ImportResult> {
  const result: ImportResult = { storedDrawings: 0, skippedFiles: 0 };
  const skip = (error: unknown): void => {
    result.skippedFiles += 1;
    deps.onProgress({ kind: 'file-skipped', error: toErrorInfo(error) });
  };
  const store = async (category: string, bitmaps: Uint8Array, strokes: Strokes[] | null): Promise<void> => {
    const count = bitmaps.length / BITMAP_BYTES;
    for (let start = 0; start < count; start += IMPORT_SHARD_DRAWINGS) {
      const end = Math.min(count, start + IMPORT_SHARD_DRAWINGS);
      await deps.store.addDrawings(deps.dataset ?? IMPORTED_DATASET, category, bitmaps.subarray(start * BITMAP_BYTES, end * BITMAP_BYTES), strokes?.slice(start, end) ?? null);
    }
    result.storedDrawings += count;
  };
  // Images are gathered per class and stored together: one transaction per image would be slow.
  const images = new Map<string, { paths: string[]; bitmaps: Uint8Array[] }>();

  for (const file of files) {
    const { folder, base, ext } = splitPath(file.path);
    const bytes = new Uint8Array(file.bytes);
    try {
      if (bytes.length === 0) throw new DataError('empty', `${file.path} is empty.`, file.path);
      if (ext === 'npy' || ext === 'ndjson') {
        if (base.length === 0) throw new DataError('bad-record', `${file.path} has no name to use as its category; rename it to the category (cat.npy).`, file.path);
        const { bitmaps, strokes } = ext === 'npy' ? { bitmaps: decodeNpy(bytes, file.path).bitmaps, strokes: null } : readNdjson(bytes, file.path);
        await store(base, bitmaps, strokes);
        deps.onProgress({ kind: 'file-stored', path: file.path, category: base, drawings: bitmaps.length / BITMAP_BYTES });
      } else if (IMAGE_EXTENSIONS.has(ext)) {
        if (folder === null || folder.length === 0) {
          throw new DataError('bad-record', `${file.path} is not inside a class folder; put images in one folder per class (cat/001.png) and import the folders.`, file.path);
        }
        let image: DecodedImage;
        try {
          image = await deps.decodeImage(bytes);
        } catch {
          throw new DataError('not-image', `${file.path} could not be read as an image; it may be damaged or in a format this browser cannot decode.`, file.path);
        }
        const batch = images.get(folder) ?? { paths: [], bitmaps: [] };
        batch.paths.push(file.path);
        batch.bitmaps.push(imageToBitmap(image));
        images.set(folder, batch);
      } else {
        throw new DataError('not-image', `${file.path} is not something Doodle Lab can import: use .npy or .ndjson files, or images (.png, .jpg, .webp, .gif, .bmp) in one folder per class.`, file.path);
      }
    } catch (error) {
      if (isQuotaError(error)) throw error;
      skip(error);
    }
  }

  for (const [category, batch] of images) {
    const bitmaps = new Uint8Array(batch.bitmaps.length * BITMAP_BYTES);
    batch.bitmaps.forEach((bitmap, i) => bitmaps.set(bitmap, i * BITMAP_BYTES));
    await store(category, bitmaps, null);
    for (const path of batch.paths) deps.onProgress({ kind: 'file-stored', path, category, drawings: 1 });
  }
  deps.onProgress({ kind: 'done', ...result });
  return result;
}

/**
 * Reads simplified or raw ndjson, rendering each drawing to a bitmap and keeping its strokes. Lines that
 * cannot be read (a file cut off mid-line, say) are left out as long as some drawings remain.
 */
function readNdjson(bytes: Uint8Array, path: string): { bitmaps: Uint8Array; strokes: Strokes[] } {
  const records: QuickDrawRecord[] = [];
  let firstProblem: unknown = null;
  new TextDecoder().decode(bytes).split('\n').forEach((line, i) => {
    if (line.trim().length === 0) return;
    try {
      records.push(parseRecord(line, path, i + 1));
    } catch (error) {
      firstProblem ??= error;
    }
  });
  if (records.length === 0) throw firstProblem ?? new DataError('empty', `${path} holds no drawings.`, path);
  const bitmaps = new Uint8Array(records.length * BITMAP_BYTES);
  records.forEach((record, i) => bitmaps.set(strokesToBitmap(record.drawing), i * BITMAP_BYTES));
  return { bitmaps, strokes: records.map((r) => r.drawing) };
}

/**
 * An image to a 28×28 bitmap like Google's: grayscale (transparent pixels count as white paper), inverted
 * when the background is light (mean border > 127) so strokes are white on black, letterboxed into a square
 * with the background value, and shrunk by area averaging (every source pixel weighs by the area it covers).
 */
export function imageToBitmap(image: DecodedImage, sidePx = BITMAP_SIDE_PX): Uint8Array {
  const { width, height, rgba } = image;
  if (width <= 0 || height <= 0 || rgba.length < width * height * 4) throw new Error('imageToBitmap: the pixel data does not match the image size');
  const gray = new Float32Array(width * height);
  let borderSum = 0, borderCount = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const alpha = (rgba[i * 4 + 3] ?? 255) / 255;
      const luma = 0.299 * (rgba[i * 4] ?? 0) + 0.587 * (rgba[i * 4 + 1] ?? 0) + 0.114 * (rgba[i * 4 + 2] ?? 0);
      const value = luma * alpha + 255 * (1 - alpha);
      gray[i] = value;
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) { borderSum += value; borderCount += 1; }
    }
  }
  const borderMean = borderSum / borderCount;
  const invert = borderMean > 127;
  if (invert) for (let i = 0; i < gray.length; i++) gray[i] = 255 - (gray[i] ?? 0);
  const background = invert ? 255 - borderMean : borderMean;

  const square = Math.max(width, height);
  const xs = axisWeights(width, (square - width) / 2, square, sidePx);
  const ys = axisWeights(height, (square - height) / 2, square, sidePx);
  const area = (square / sidePx) ** 2;
  const bitmap = new Uint8Array(sidePx * sidePx);
  for (let ty = 0; ty < sidePx; ty++) {
    for (let tx = 0; tx < sidePx; tx++) {
      let sum = 0, covered = 0;
      for (const [sy, wy] of ys[ty] ?? []) {
        for (const [sx, wx] of xs[tx] ?? []) {
          sum += (gray[sy * width + sx] ?? 0) * wx * wy;
          covered += wx * wy;
        }
      }
      const value = (sum + (area - covered) * background) / area;
      bitmap[ty * sidePx + tx] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
  return bitmap;
}

/** For each target pixel along one axis, the source pixels it covers and by how much (in source pixels). */
function axisWeights(length: number, offset: number, square: number, sidePx: number): [number, number][][] {
  const step = square / sidePx;
  return Array.from({ length: sidePx }, (_, t) => {
    const from = t * step - offset, to = (t + 1) * step - offset;
    const weights: [number, number][] = [];
    for (let s = Math.max(0, Math.floor(from)); s < Math.min(length, Math.ceil(to)); s++) {
      const weight = Math.min(to, s + 1) - Math.max(from, s);
      if (weight > 0) weights.push([s, weight]);
    }
    return weights;
  });
}
