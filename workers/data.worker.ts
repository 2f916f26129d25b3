// The data worker: owns the IndexedDB connection and the running download, and wires the pure core
// (ingest, import, store) to the page through comlink. Runs in a module Web Worker.
import * as Comlink from 'comlink';
import './thread-errors.ts';
import { DataError } from '../src/core/errors.ts';
import { importFiles as importAll, type DecodedImage } from '../src/core/ingest/import.ts';
import { ingest, type StorageAccess } from '../src/core/ingest/ingest.ts';
import type {
  CategorySummary, DownloadOptions, DrawingPage, ImportFile, ImportProgress, IngestProgress, StoredDatasetSummary,
} from '../src/core/ingest/ingest-protocol.ts';
import type { Strokes } from '../src/core/data/ndjson.ts';
import { strokesToBitmap } from '../src/core/data/render.ts';
import type { DatasetInfo } from '../src/core/data/database.ts';
import { DrawingStore } from '../src/core/data/store.ts';

const MY_DRAWINGS: DatasetInfo = { datasetId: 'my-drawings', label: 'My drawings', source: 'local' };
/** Larger images are scaled down before the 28×28 area average; detail beyond this cannot survive it anyway. */
const MAX_DECODE_SIDE_PX = 1024;

// Its database opens on first use, and again after another tab or the browser closed it or an open failed.
const drawings = DrawingStore.connect();

let running: { controller: AbortController; finished: Promise<unknown> } | null = null;

// navigator.storage.persist() exists only on the page; a worker can ask whether it was granted and how much is used.
const storage: StorageAccess | undefined = 'storage' in navigator
  ? { persisted: () => navigator.storage.persisted(), estimate: () => navigator.storage.estimate() }
  : undefined;

async function decodeImage(bytes: Uint8Array<ArrayBuffer>): Promise<DecodedImage> {
  const bitmap = await createImageBitmap(new Blob([bytes]));
  try {
    const scale = Math.min(1, MAX_DECODE_SIDE_PX / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const context = new OffscreenCanvas(width, height).getContext('2d');
    if (context === null) throw new Error('no 2D canvas in this worker');
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, width, height);
    return { width, height, rgba: context.getImageData(0, 0, width, height).data };
  } finally {
    bitmap.close();
  }
}

/**
 * Forwards progress to the page. Comlink delivers callback calls on their own port, apart from the reply to
 * the API call, so `flush` waits for the last one: the page then has every event before the call resolves.
 */
function relay<E>(onProgress: (event: E) => void): { send: (event: E) => void; flush: () => Promise<void> } {
  let last: Promise<unknown> = Promise.resolve();
  return {
    // Through comlink the callback returns a promise; a page that went away must not leave a rejection behind.
    send: (event) => void (last = Promise.resolve(onProgress(event)).catch(() => undefined)),
    flush: async () => void (await last),
  };
}

const api = {
  /** Resolves when the download has ended; the last event says how (done, cancelled or error). */
  async download(options: DownloadOptions, onProgress: (event: IngestProgress) => void): Promise<void> {
    if (running !== null) {
      // A second download replaces the first; both would write the same shards.
      running.controller.abort();
      await running.finished;
    }
    const controller = new AbortController();
    const progress = relay(onProgress);
    const finished = ingest(options, {
      fetch: (url, init) => fetch(url, init),
      store: drawings,
      signal: controller.signal,
      onProgress: progress.send,
      ...(storage === undefined ? {} : { storage }),
    });
    const job = { controller, finished };
    running = job;
    await finished;
    if (running === job) running = null;
    await progress.flush();
  },

  cancel(): void {
    running?.controller.abort();
  },

  /** Imports into "Imported files", or into `dataset` (the pipeline's train and test sets). */
  async importFiles(files: ImportFile[], onProgress: (event: ImportProgress) => void, dataset?: DatasetInfo): Promise<void> {
    const progress = relay(onProgress);
    try {
      await importAll(files, { store: drawings, decodeImage, onProgress: progress.send, ...(dataset === undefined ? {} : { dataset }) });
    } finally {
      await progress.flush();
    }
  },

  /** Stores one drawing made on the page as a new drawing of `category` in "My drawings". */
  async addDrawing(category: string, strokes: Strokes): Promise<CategorySummary> {
    const name = category.normalize('NFC').trim();
    if (name.length === 0) throw new DataError('unknown-category', 'Give your class a name before saving a drawing.');
    if (!strokes.some((stroke) => (stroke[0]?.length ?? 0) > 0)) throw new DataError('empty', 'The canvas is empty: draw something first.');
    return drawings.addDrawings(MY_DRAWINGS, name, strokesToBitmap(strokes), [strokes]);
  },

  async listDatasets(): Promise<StoredDatasetSummary[]> {
    return drawings.listDatasets();
  },

  async readDrawings(datasetId: string, category: string, offset: number, limit: number): Promise<DrawingPage> {
    const page = await drawings.readDrawings(datasetId, category, offset, limit);
    // The page is a fresh buffer nobody else holds: move it instead of copying.
    return Comlink.transfer(page, [page.bitmaps.buffer]);
  },

  async deleteDataset(datasetId: string): Promise<void> {
    await drawings.deleteDataset(datasetId);
  },

  async storageEstimate(): Promise<{ usageBytes: number | null; quotaBytes: number | null; persisted: boolean }> {
    if (storage === undefined) return { usageBytes: null, quotaBytes: null, persisted: false };
    const [estimate, persisted] = await Promise.all([navigator.storage.estimate(), navigator.storage.persisted()]);
    return { usageBytes: estimate.usage ?? null, quotaBytes: estimate.quota ?? null, persisted };
  },
};

export type DataWorkerApi = typeof api;

Comlink.expose(api);
