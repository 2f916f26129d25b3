// Plain-data shapes that cross between the page and the data worker (workers/data.worker.ts).
// Only copyable values and transferred ArrayBuffers travel; progress events are unions tagged by `kind`.
import type { DataErrorInfo } from '../errors.ts';

/** The storage id of the served Quick, Draw! dataset (here so the page can name it without the ingest code). */
export const SERVED_DATASET_ID = 'quickdraw';

/** A category as the page lists it: what the served dataset offers and what is stored locally. */
export interface CategorySummary {
  /** Storage id of the dataset ("quickdraw" for served shards, "imported", "my-drawings"). */
  datasetId: string;
  name: string;
  storedDrawings: number;
  storedBytes: number;
}

export interface StoredDatasetSummary {
  datasetId: string;
  label: string;
  categories: CategorySummary[];
  storedDrawings: number;
  storedBytes: number;
}

export interface DownloadOptions {
  /** URL of manifest.json; shard files are resolved against it. */
  manifestUrl: string;
  categories: string[];
  maxPerCategory: number;
}

/**
 * A download's options as the page saved them for a reload to resume (JSON of a DownloadOptions; versions before
 * the rename wrote `perCategory` for `maxPerCategory`); `fallbackPerCategory` where neither is there. Throws on
 * text that is not such a value.
 */
export function parseSavedDownload(text: string, fallbackPerCategory: number): DownloadOptions {
  const saved = JSON.parse(text) as Partial<DownloadOptions> & { perCategory?: number };
  if (typeof saved.manifestUrl !== 'string' || !Array.isArray(saved.categories)) throw new Error('Not a saved download.');
  return { manifestUrl: saved.manifestUrl, categories: saved.categories, maxPerCategory: saved.maxPerCategory ?? saved.perCategory ?? fallbackPerCategory };
}

export interface CategoryProgress {
  name: string;
  targetDrawings: number;
  storedDrawings: number;
}

export type IngestProgress =
  /** Sent once the manifest is read and already stored shards are counted (a resume starts here). */
  | { kind: 'plan'; categories: CategoryProgress[]; totalBytes: number; storedBytes: number }
  /** Bytes arriving for a shard still being downloaded. */
  | { kind: 'bytes'; category: string; bytesDone: number; totalBytes: number }
  /** A shard was verified, decoded and committed in one transaction. */
  | {
      kind: 'shard-stored';
      category: string;
      categoryStoredDrawings: number;
      storedDrawings: number;
      targetDrawings: number;
      bytesDone: number;
      totalBytes: number;
      drawingsPerSec: number;
      etaSec: number | null;
    }
  | { kind: 'retry'; file: string; attempt: number; delayMs: number; reason: string }
  | { kind: 'storage'; persisted: boolean; usageBytes: number | null; quotaBytes: number | null }
  | { kind: 'done'; storedDrawings: number; elapsedMs: number; drawingsPerSec: number }
  | { kind: 'cancelled'; storedDrawings: number }
  | { kind: 'error'; error: DataErrorInfo };

/** What the page hands the worker for local import: the file's bytes (transferred) and where it came from. */
export interface ImportFile {
  /** Path inside the dropped folder ("cat/001.png") or the bare file name ("cat.npy"). */
  path: string;
  bytes: ArrayBuffer;
}

export type ImportProgress =
  | { kind: 'file-stored'; path: string; category: string; drawings: number }
  | { kind: 'file-skipped'; error: DataErrorInfo }
  | { kind: 'done'; storedDrawings: number; skippedFiles: number };

/** A page of stored drawings for the browsing grid: bitmaps back to back, 784 bytes each. */
export interface DrawingPage {
  datasetId: string;
  category: string;
  offset: number;
  total: number;
  bitmaps: Uint8Array;
}
