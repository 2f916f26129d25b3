// Page-side state of the Data page: the served catalog, the download job and its progress, what is stored,
// local import and own drawings. Owns the data worker (the only code that talks to it). Main thread.
import * as Comlink from 'comlink';
import { WorkerClient } from './worker-client.ts';
import type { ListState } from './list-state.ts';
import { SvelteSet } from 'svelte/reactivity';
import type { DataWorkerApi } from '../../workers/data.worker.ts';
import { DEFAULT_CATEGORIES, QUICKDRAW_CATEGORIES } from '../core/data/categories.ts';
import { toErrorInfo, type DataErrorInfo } from '../core/errors.ts';
import {
  parseSavedDownload, SERVED_DATASET_ID, type CategoryProgress, type DownloadOptions, type DrawingPage, type ImportFile, type ImportProgress, type IngestProgress,
  type StoredDatasetSummary,
} from '../core/ingest/ingest-protocol.ts';
import { validateManifest } from '../core/data/manifest.ts';
import type { Strokes } from '../core/data/ndjson.ts';

/** Where the served dataset's manifest lives, relative to the page (works under a GitHub Pages sub-path). */
export const SERVED_MANIFEST_PATH = 'assets/data/quickdraw/manifest.json';
const PENDING_KEY = 'doodle-lab:pending-download';
export const PER_CATEGORY_CHOICES = [100, 500, 1000, 3000] as const;
/** The default categories are served as one 3,000-drawing shard each, downloaded whole: fewer costs as many bytes. */
const DEFAULT_PER_CATEGORY = 3000;

export interface CatalogEntry {
  name: string;
  /** Drawings the served dataset has for it; 0 when the site serves none. */
  servedDrawings: number;
}

export type DownloadStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

/** The totals a stored shard reports, which the page shows as they arrive. */
type DownloadTotals = Pick<Extract<IngestProgress, { kind: 'shard-stored' }>, 'storedDrawings' | 'targetDrawings' | 'bytesDone' | 'totalBytes' | 'drawingsPerSec' | 'etaSec'>;

export interface DownloadView extends DownloadTotals {
  status: DownloadStatus;
  resumed: boolean;
  categories: CategoryProgress[];
  retryNote: string | null;
}

/** The disk refused a write, or storage failed one: retrying on reload would write to the same disk. */
const refusedWrite = (code: DataErrorInfo['code'] | undefined): code is 'quota' | 'storage' => code === 'quota' || code === 'storage';

function emptyView(resumed: boolean): DownloadView {
  return {
    status: 'running', resumed, categories: [], storedDrawings: 0, targetDrawings: 0, bytesDone: 0,
    totalBytes: 0, drawingsPerSec: 0, etaSec: null, retryNote: null,
  };
}

export class DataState {
  catalog = $state<CatalogEntry[]>(QUICKDRAW_CATEGORIES.map((name) => ({ name, servedDrawings: 0 })));
  catalogError = $state<string | null>(null);
  /** False while the browser says it has no network: stored drawings still work, downloads cannot. */
  online = $state(navigator.onLine);
  readonly selected = new SvelteSet<string>(DEFAULT_CATEGORIES);
  maxPerCategory = $state<number>(DEFAULT_PER_CATEGORY);
  download = $state<DownloadView | null>(null);
  error = $state<DataErrorInfo | null>(null);
  datasets = $state<StoredDatasetSummary[]>([]);
  /** 'unreadable' when the stored datasets could not be listed: the page must not say nothing is stored. */
  datasetsState = $state<ListState>('loading');
  importReport = $state<{ stored: number; skipped: DataErrorInfo[]; running: boolean } | null>(null);
  storage = $state<{ usageBytes: number | null; quotaBytes: number | null; persisted: boolean } | null>(null);

  readonly manifestUrl: string;
  private readonly api: Comlink.Remote<DataWorkerApi>;

  constructor(baseUrl: string = document.baseURI) {
    this.manifestUrl = new URL(SERVED_MANIFEST_PATH, baseUrl).href;
    this.api = new WorkerClient<DataWorkerApi>('data worker', () => new Worker(new URL('../../workers/data.worker.ts', import.meta.url), { type: 'module' }),
      (error) => (this.error = toErrorInfo(error))).api;
  }

  /** Loads the catalog and stored datasets, then resumes a download a reload interrupted. */
  async start(): Promise<void> {
    // Read before anything is awaited: a Download pressed while the catalog loads writes this key too, and must
    // not be taken for an interrupted download and started a second time (which cancelled the first and left the
    // page saying "Download cancelled" while the second one ran).
    const pending = localStorage.getItem(PENDING_KEY);
    addEventListener('offline', () => (this.online = false));
    addEventListener('online', () => {
      this.online = true;
      if (this.catalogError !== null) void this.loadCatalog();
    });
    // On a first visit the catalog was fetched before the service worker took control: fetch it again once it
    // has, so the worker keeps a copy and the catalog still shows offline (vite.config.ts, runtimeCaching).
    navigator.serviceWorker?.addEventListener('controllerchange', () => void this.loadCatalog(), { once: true });
    await Promise.all([this.loadCatalog(), this.refresh()]);
    // Offline the download would only fail: it stays pending and resumes at the next load with a network.
    if (pending === null || this.download !== null || !this.online) return;
    try {
      // Written by `startDownload` below.
      const options = parseSavedDownload(pending, DEFAULT_PER_CATEGORY);
      this.maxPerCategory = options.maxPerCategory;
      this.selected.clear();
      for (const name of options.categories) this.selected.add(name);
      await this.runDownload(options, true);
    } catch {
      localStorage.removeItem(PENDING_KEY);
    }
  }

  private async loadCatalog(): Promise<void> {
    this.catalogError = null;
    try {
      const response = await fetch(this.manifestUrl);
      if (!response.ok) throw new Error(`the server answered ${response.status} for ${this.manifestUrl}`);
      const manifest = validateManifest(await response.json(), this.manifestUrl);
      const served = new Map(manifest.categories.map((c) => [c.name, c.drawingCount]));
      this.catalog = QUICKDRAW_CATEGORIES.map((name) => ({ name, servedDrawings: served.get(name) ?? 0 }));
    } catch (error) {
      // The service worker keeps the last catalog it saw (vite.config.ts); without one there is nothing to show offline.
      this.catalogError = !navigator.onLine
        ? 'The list of categories this site serves needs a connection the first time: it appears when you are back online.'
        : `The dataset catalog could not be loaded (${error instanceof Error ? error.message : String(error)}). Reload the page to try again.`;
    }
  }

  /** Lists the stored datasets again; a failure to read them (storage switched off) shows in the error banner. */
  async refresh(): Promise<void> {
    const read = await this.guard(async () => {
      this.datasets = await this.api.listDatasets();
      this.storage = await this.api.storageEstimate();
    });
    this.datasetsState = read ? 'loaded' : 'unreadable';
  }

  /** Lists the stored datasets again after they could not be listed; the banner goes, and comes back on failure. */
  async rereadDatasets(): Promise<void> {
    this.error = null;
    await this.refresh();
  }

  get downloadable(): string[] {
    const served = new Set(this.catalog.filter((c) => c.servedDrawings > 0).map((c) => c.name));
    return [...this.selected].filter((name) => served.has(name));
  }

  async startDownload(): Promise<void> {
    // StorageManager.persist() exists only on the page, not in workers: ask here, before storing much,
    // so the browser does not evict the drawings under storage pressure. A refusal is not an error.
    await navigator.storage?.persist?.().catch(() => false);
    const options: DownloadOptions = { manifestUrl: this.manifestUrl, categories: this.downloadable, maxPerCategory: this.maxPerCategory };
    localStorage.setItem(PENDING_KEY, JSON.stringify(options));
    await this.runDownload(options, false);
  }

  private async runDownload(options: DownloadOptions, resumed: boolean): Promise<void> {
    this.error = null;
    this.download = emptyView(resumed);
    // This download's own view: events of a download this one replaced must not touch it.
    const view = this.download;
    const ended = await this.guard(() => this.api.download(options, Comlink.proxy((event: IngestProgress) => this.onProgress(view, event))));
    if (view !== this.download) return;
    if (!ended) view.status = 'error';
    if (view.status !== 'error' && view.status !== 'cancelled') view.status = 'done';
    if (view.status === 'done') localStorage.removeItem(PENDING_KEY);
    await this.refresh();
    this.checkKeptAfterRefusal();
  }

  /**
   * After the disk refused a shard (or storage failed one), what was stored should still be listed. Chromium on
   * Linux sometimes wipes the site's whole storage once a write finds the disk full to the last byte
   * (electron#41877), with no event to say so: compare, and tell the person instead of showing an empty page.
   */
  private checkKeptAfterRefusal(): void {
    const code = this.error?.code;
    if (this.download?.status !== 'error' || !refusedWrite(code)) return;
    const stored = this.download.storedDrawings;
    const listed = this.datasets.find((d) => d.datasetId === SERVED_DATASET_ID)?.storedDrawings ?? 0;
    if (listed >= stored) return;
    this.error = {
      code,
      message: `${code === 'quota' ? 'The disk filled up completely' : 'A write failed'}, and the browser then discarded stored drawings: ${listed.toLocaleString('en-US')} of the ` +
        `${stored.toLocaleString('en-US')} stored are left. Chromium does this when a disk is full to the last byte. Free disk space, then download again.`,
    };
  }

  private onProgress(view: DownloadView, event: IngestProgress): void {
    if (view !== this.download) return;
    switch (event.kind) {
      case 'plan':
        view.categories = event.categories;
        view.targetDrawings = event.categories.reduce((sum, c) => sum + c.targetDrawings, 0);
        view.storedDrawings = event.categories.reduce((sum, c) => sum + c.storedDrawings, 0);
        view.totalBytes = event.totalBytes;
        view.bytesDone = event.storedBytes;
        break;
      case 'bytes':
        break;
      case 'shard-stored': {
        const category = view.categories.find((c) => c.name === event.category);
        if (category !== undefined) category.storedDrawings = event.categoryStoredDrawings;
        view.storedDrawings = event.storedDrawings;
        view.bytesDone = event.bytesDone;
        view.drawingsPerSec = event.drawingsPerSec;
        view.etaSec = event.etaSec;
        view.retryNote = null;
        break;
      }
      case 'retry':
        view.retryNote = `${event.reason} — retrying ${event.file} in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt})`;
        break;
      case 'storage':
        this.storage = { usageBytes: event.usageBytes, quotaBytes: event.quotaBytes, persisted: event.persisted };
        break;
      case 'done':
        view.status = 'done';
        view.storedDrawings = event.storedDrawings;
        view.drawingsPerSec = event.drawingsPerSec;
        view.etaSec = 0;
        break;
      case 'cancelled':
        view.status = 'cancelled';
        break;
      case 'error':
        view.status = 'error';
        this.error = event.error;
        // A reload resumes an interrupted download, but not one the disk refused: writes on a full disk cannot
        // succeed, and Chromium may reset all of IndexedDB once a write finds the disk full to the last byte.
        // Forgotten at once, so a reload right after the message does not resume it either.
        if (refusedWrite(event.error.code)) localStorage.removeItem(PENDING_KEY);
        break;
    }
  }

  async cancelDownload(): Promise<void> {
    localStorage.removeItem(PENDING_KEY);
    await this.api.cancel();
  }

  async deleteDataset(datasetId: string): Promise<void> {
    await this.guard(() => this.api.deleteDataset(datasetId));
    await this.refresh();
  }

  /** Runs a worker call, turning a failure into the page's error banner instead of an unhandled rejection. */
  private async guard(action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (error) {
      // A DataError keeps its code across the worker boundary (workers/thread-errors.ts): no guessing from words.
      this.error = toErrorInfo(error);
      return false;
    }
  }

  /** A page of stored drawings, or null when it could not be read (a damaged shard): the banner then says why. */
  async readDrawings(datasetId: string, category: string, offset: number, limit: number): Promise<DrawingPage | null> {
    let page: DrawingPage | null = null;
    await this.guard(async () => (page = await this.api.readDrawings(datasetId, category, offset, limit)));
    return page;
  }

  /** Shows a failure that happened on the page itself (reading picked files) in the error banner. */
  report(error: unknown): void {
    this.error = toErrorInfo(error);
  }

  async importFiles(files: ImportFile[]): Promise<void> {
    const report = { stored: 0, skipped: [] as DataErrorInfo[], running: true };
    this.importReport = report;
    const onProgress = (event: ImportProgress): void => {
      if (this.importReport === null) return;
      if (event.kind === 'file-stored') this.importReport.stored += event.drawings;
      if (event.kind === 'file-skipped') this.importReport.skipped.push(event.error);
    };
    const transfer = files.map((f) => f.bytes);
    await this.guard(() => this.api.importFiles(Comlink.transfer(files, transfer), Comlink.proxy(onProgress)));
    if (this.importReport !== null) this.importReport.running = false;
    await this.refresh();
  }

  /** Stores one own drawing; false (with the error shown) when it could not be stored. */
  async addDrawing(category: string, strokes: Strokes): Promise<boolean> {
    const stored = await this.guard(() => this.api.addDrawing(category, strokes));
    await this.refresh();
    return stored;
  }
}
