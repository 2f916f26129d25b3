// Downloads a served dataset into the store: manifest → plan (plan.ts: skipping shards already stored, so a resume
// never duplicates) → per shard: stream into a preallocated buffer → SHA-256 → check (coded bitmaps stay
// coded) → one transaction. Downloads run ahead of the writes, a bounded number at a time.
// Pure logic with injected fetch, store, clock and sleep; runs in the data worker and in browser tests.
import { DataError, isQuotaError, quotaError, toErrorInfo } from '../errors.ts';
import { SERVED_DATASET_ID, type DownloadOptions, type IngestProgress } from './ingest-protocol.ts';
import { validateManifest, type ShardEntry } from '../data/manifest.ts';
import { sha256Hex } from '../data/sha256.ts';
import { httpError, networkError, streamInto, verify, type FetchedShard, type PlannedShard } from './shard-fetch.ts';
import type { DatasetInfo } from '../data/database.ts';
import type { NewShard, StoredShard } from '../data/store.ts';
import { planDownload } from './plan.ts';

export { SERVED_DATASET_ID };

/** The part of DrawingStore that ingest uses; tests wrap it to simulate a full disk. */
export interface IngestStore {
  storedShardKeys(datasetId: string): Promise<Map<string, StoredShard>>;
  putShard(dataset: DatasetInfo, shard: NewShard): Promise<void>;
}

/** navigator.storage as far as it exists: `persist` is window-only, so a worker passes what it has. */
export interface StorageAccess {
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
}

export interface IngestDeps {
  fetch: (url: string, init: { signal: AbortSignal }) => Promise<Response>;
  store: IngestStore;
  onProgress: (event: IngestProgress) => void;
  signal?: AbortSignal;
  storage?: StorageAccess;
  /** Waits `ms`; rejects when `signal` aborts. Tests pass one that returns at once. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface IngestOptions extends DownloadOptions {
  /** Storage id; "quickdraw" for the served dataset. */
  datasetId?: string;
  label?: string;
  maxAttempts?: number;
  retryBaseMs?: number;
  /** Shards downloading at once, while earlier ones are written. */
  fetchAhead?: number;
  bytesEveryMs?: number;
}

/** Downloaded shards that may wait for their turn to be written, beyond those downloading. */
export const MAX_WAITING_SHARDS = 2;

const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
});

/** Downloads, verifies and stores; reports through `onProgress` and ends with exactly one done, cancelled or error event. */
export async function ingest(options: IngestOptions, deps: IngestDeps): Promise<IngestProgress> {
  const now = deps.now ?? (() => performance.now());
  const sleep = deps.sleep ?? abortableSleep;
  const maxAttempts = options.maxAttempts ?? 3;
  const retryBaseMs = options.retryBaseMs ?? 250;
  const fetchAhead = Math.max(1, options.fetchAhead ?? 2);
  const bytesEveryMs = options.bytesEveryMs ?? 100;
  const datasetId = options.datasetId ?? SERVED_DATASET_ID;
  // Our own controller stops in-flight downloads on an error too, not only on the caller's cancel.
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onAbort, { once: true });
  if (deps.signal?.aborted === true) onAbort();
  const startedAt = now();
  let storedDrawings = 0;

  const finish = (event: IngestProgress): IngestProgress => {
    deps.signal?.removeEventListener('abort', onAbort);
    inner.abort();
    deps.onProgress(event);
    return event;
  };

  async function withRetry<T>(url: string, label: string, attemptOnce: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await attemptOnce();
      } catch (error) {
        if (inner.signal.aborted || !(error instanceof DataError) || !error.transient) throw error;
        if (attempt >= maxAttempts) {
          throw new DataError(error.code, `${error.message} Gave up after ${maxAttempts} tries; try again later — what was stored is kept.`, url, true);
        }
        const delayMs = retryBaseMs * 2 ** (attempt - 1);
        deps.onProgress({ kind: 'retry', file: label, attempt: attempt + 1, delayMs, reason: error.message });
        await sleep(delayMs, inner.signal);
      }
    }
  }

  async function get(url: string): Promise<Response> {
    let response: Response;
    try {
      response = await deps.fetch(url, { signal: inner.signal });
    } catch (error) {
      if (inner.signal.aborted) throw error;
      throw networkError(url, error instanceof Error ? error.message : String(error));
    }
    if (!response.ok) {
      void response.body?.cancel().catch(() => undefined);
      throw httpError(response.status, url);
    }
    return response;
  }

  try {
    const manifestBytes = await withRetry(options.manifestUrl, options.manifestUrl, async () => {
      const response = await get(options.manifestUrl);
      try {
        return new Uint8Array(await response.arrayBuffer());
      } catch (error) {
        if (inner.signal.aborted) throw error;
        throw networkError(options.manifestUrl, 'the manifest stopped arriving');
      }
    });
    let manifestJson: unknown;
    try {
      manifestJson = JSON.parse(new TextDecoder().decode(manifestBytes));
    } catch {
      throw new DataError('bad-manifest', `${options.manifestUrl} is not valid JSON; rebuild the dataset (npm run assets).`, options.manifestUrl);
    }
    const manifest = validateManifest(manifestJson, options.manifestUrl);
    const dataset: DatasetInfo = {
      datasetId, label: options.label ?? 'Quick, Draw!', source: options.manifestUrl, manifestSha256: await sha256Hex(manifestBytes),
    };
    const plan = planDownload({
      manifest, manifestUrl: options.manifestUrl, datasetId, categories: options.categories, maxPerCategory: options.maxPerCategory,
      stored: await deps.store.storedShardKeys(datasetId),
    });
    const { todo, progress, totalBytes } = plan;
    let bytesDone = plan.storedBytes;
    const targetDrawings = progress.reduce((sum, c) => sum + c.targetDrawings, 0);
    storedDrawings = progress.reduce((sum, c) => sum + c.storedDrawings, 0);
    deps.onProgress({ kind: 'plan', categories: progress.map((c) => ({ ...c })), totalBytes, storedBytes: bytesDone });
    await reportStorage(deps.storage, deps.onProgress, true);

    // Bytes downloaded but not yet stored: counted from their arrival until their shard is stored, so the
    // byte count never steps back while shards wait their turn to be written.
    let arrivedBytes = 0, lastBytesAt = -Infinity;
    const onChunk = (entry: ShardEntry, length: number): void => {
      arrivedBytes += length;
      const t = now();
      if (t - lastBytesAt < bytesEveryMs) return;
      lastBytesAt = t;
      deps.onProgress({ kind: 'bytes', category: entry.category, bytesDone: bytesDone + arrivedBytes, totalBytes });
    };
    const fetchShard = (shard: PlannedShard): Promise<FetchedShard> => withRetry(shard.url, shard.entry.file, async () => {
      const { url, entry } = shard;
      let buffer: Uint8Array = new Uint8Array(entry.sizeBytes);
      let received = 0;
      try {
        const response = await get(url);
        buffer = await streamInto(response, buffer, url, inner.signal, (length) => {
          received += length;
          onChunk(entry, length);
        });
        if (received === 0 && entry.sizeBytes > 0) {
          throw new DataError('empty', `${url} arrived empty (0 of ${entry.sizeBytes} bytes). The served dataset is damaged: rebuild it (npm run assets).`, url);
        }
        if (received < entry.sizeBytes) {
          throw new DataError('truncated', `${url} is truncated: ${received} of ${entry.sizeBytes} bytes arrived. The served file is incomplete: rebuild the dataset (npm run assets).`, url);
        }
      } catch (error) {
        arrivedBytes -= received;
        throw error;
      }
      return verify(buffer, shard);
    });

    // Downloads run on their own, `fetchAhead` at a time, while shards are written in plan order: the next
    // download starts when one arrives, not when one is stored. At most `maxAhead` shards wait in memory.
    const pending: Promise<FetchedShard>[] = [];
    const maxAhead = fetchAhead + MAX_WAITING_SHARDS;
    let next = 0, downloading = 0, drawingsThisRun = 0;
    const startDownloads = (): void => {
      while (downloading < fetchAhead && pending.length < maxAhead && next < todo.length && !inner.signal.aborted) {
        const planned = todo[next++];
        if (planned === undefined) break;
        const download = fetchShard(planned);
        downloading++;
        // Also keeps an early failure from being reported as unhandled: it is rethrown when its turn comes.
        const settled = (): void => { downloading--; startDownloads(); };
        download.then(settled, settled);
        pending.push(download);
      }
    };
    startDownloads();
    for (let i = 0; i < todo.length; i++) {
      const download = pending.shift();
      if (download === undefined) break;
      // Its place in memory is free as soon as it is taken.
      startDownloads();
      const shard = await download;
      if (inner.signal.aborted) break;
      try {
        await deps.store.putShard(dataset, shard);
      } catch (error) {
        throw isQuotaError(error) && !(error instanceof DataError) ? quotaError(`the ${shard.category} drawings`) : error;
      }
      storedDrawings += shard.keep;
      drawingsThisRun += shard.keep;
      bytesDone += shard.fileBytes;
      arrivedBytes -= shard.fileBytes;
      const category = progress.find((c) => c.name === shard.category);
      if (category !== undefined) category.storedDrawings += shard.keep;
      const drawingsPerSec = drawingsThisRun / Math.max(1e-3, (now() - startedAt) / 1000);
      deps.onProgress({
        kind: 'shard-stored', category: shard.category, categoryStoredDrawings: category?.storedDrawings ?? shard.keep, storedDrawings,
        targetDrawings, bytesDone, totalBytes, drawingsPerSec, etaSec: (targetDrawings - storedDrawings) / drawingsPerSec,
      });
    }
    if (deps.signal?.aborted) return finish({ kind: 'cancelled', storedDrawings });
    await reportStorage(deps.storage, deps.onProgress, false);
    const elapsedMs = now() - startedAt;
    return finish({ kind: 'done', storedDrawings, elapsedMs, drawingsPerSec: drawingsThisRun / Math.max(1e-3, elapsedMs / 1000) });
  } catch (error) {
    if (deps.signal?.aborted) return finish({ kind: 'cancelled', storedDrawings });
    return finish({ kind: 'error', error: toErrorInfo(error) });
  }
}

/** Asks for persistent storage (once, at the start) and reports usage; a browser without the API is not an error. */
async function reportStorage(storage: StorageAccess | undefined, onProgress: IngestDeps['onProgress'], ask: boolean): Promise<void> {
  if (storage === undefined) return;
  try {
    const persisted = (ask ? await storage.persist?.() : undefined) ?? (await storage.persisted?.()) ?? false;
    const estimate = await storage.estimate?.();
    onProgress({ kind: 'storage', persisted, usageBytes: estimate?.usage ?? null, quotaBytes: estimate?.quota ?? null });
  } catch {
    // Storage info is advisory; its absence must not stop a download.
  }
}
