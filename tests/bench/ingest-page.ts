// Bench-only page script for `npm run bench:ingest` (main thread): runs the real data worker's download and
// the raw-write baseline in alternating rounds, and watches the main thread for long tasks meanwhile.
// Exposes `runIngestBench` on window for Playwright to call; the Node side prints the results.
import * as Comlink from 'comlink';
import type { IngestProgress } from '../../src/core/ingest/ingest-protocol.ts';
import type { DataWorkerApi } from '../../workers/data.worker.ts';
import type { RawWriteApi } from './raw-write.worker.ts';

export interface BenchRequest {
  manifestUrl: string;
  categories: string[];
  maxPerCategory: number;
  rounds: number;
}

export interface BenchResult {
  drawings: number;
  /** Bitmap bytes one round stores (both the ingest and the raw baseline). */
  storedBytes: number;
  ingestMs: number[];
  rawMs: number[];
  coreFetchAhead1Ms: number[];
  coreFetchAhead2Ms: number[];
  fetchVerifyOnlyMs: number[];
  fetchOnlyMs: number[];
  /**
   * The downloads alone (one worker) and the raw writes (another) at the same time, until both are done: where
   * they compete for the CPU, this bounds the ingest, which does both and more.
   */
  fetchAndRawWriteMs: number[];
  /** Longest 'longtask' entry (≥ 50 ms by definition) during the data worker's downloads; 0 when none. */
  longestMainThreadTaskMs: number;
  /** Longest gap between 4 ms timer ticks on the main thread during those downloads: a finer responsiveness probe. */
  longestTimerGapMs: number;
  storageEvent: IngestProgress | null;
}

const longTasks: PerformanceEntry[] = [];
new PerformanceObserver((list) => longTasks.push(...list.getEntries())).observe({ type: 'longtask', buffered: true });

/** Records the longest gap between timer callbacks until stopped. */
function timerGapProbe(): () => number {
  let last = performance.now(), longest = 0, running = true;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setTimeout(tick, 4);
  };
  setTimeout(tick, 4);
  return () => { running = false; return longest; };
}

async function runIngestBench(request: BenchRequest): Promise<BenchResult> {
  const data = Comlink.wrap<DataWorkerApi>(new Worker(new URL('../../workers/data.worker.ts', import.meta.url), { type: 'module' }));
  const raw = Comlink.wrap<RawWriteApi>(new Worker(new URL('./raw-write.worker.ts', import.meta.url), { type: 'module' }));
  const fetcher = Comlink.wrap<RawWriteApi>(new Worker(new URL('./raw-write.worker.ts', import.meta.url), { type: 'module' }));
  const { drawings, storedBytes } = await raw.load(request.manifestUrl, request.categories, request.maxPerCategory);
  const result: BenchResult = {
    drawings, storedBytes, ingestMs: [], rawMs: [], coreFetchAhead1Ms: [], coreFetchAhead2Ms: [], fetchVerifyOnlyMs: [], fetchOnlyMs: [], fetchAndRawWriteMs: [], longestMainThreadTaskMs: 0, longestTimerGapMs: 0, storageEvent: null,
  };
  const windows: [number, number][] = [];
  for (let round = 0; round < request.rounds; round++) {
    await data.deleteDataset('quickdraw');
    const seen: { last: IngestProgress | null } = { last: null };
    const stopProbe = timerGapProbe();
    const started = performance.now();
    await data.download(
      { manifestUrl: request.manifestUrl, categories: request.categories, maxPerCategory: request.maxPerCategory },
      Comlink.proxy((event: IngestProgress) => {
        seen.last = event;
        if (event.kind === 'storage') result.storageEvent = event;
      }),
    );
    const ended = performance.now();
    result.longestTimerGapMs = Math.max(result.longestTimerGapMs, stopProbe());
    windows.push([started, ended]);
    const final = seen.last;
    if (final === null || final.kind !== 'done' || final.storedDrawings !== drawings) throw new Error(`download ended with ${JSON.stringify(final)}`);
    result.ingestMs.push(ended - started);
    result.rawMs.push(await raw.rawWrite());
    result.coreFetchAhead1Ms.push(await raw.coreIngest(request.manifestUrl, request.categories, request.maxPerCategory, 1));
    result.coreFetchAhead2Ms.push(await raw.coreIngest(request.manifestUrl, request.categories, request.maxPerCategory, 2));
    result.fetchVerifyOnlyMs.push(await raw.coreIngest(request.manifestUrl, request.categories, request.maxPerCategory, 2, true));
    result.fetchOnlyMs.push(await raw.fetchOnly(request.manifestUrl, request.categories, request.maxPerCategory));
    // In two workers, the arrangement that gives them the most room (a shared worker thread was ~8% slower).
    const bothStarted = performance.now();
    await Promise.all([raw.rawWrite(), fetcher.fetchOnly(request.manifestUrl, request.categories, request.maxPerCategory)]);
    result.fetchAndRawWriteMs.push(performance.now() - bothStarted);
  }
  const stored = (await data.listDatasets()).find((d) => d.datasetId === 'quickdraw')?.storedDrawings;
  if (stored !== drawings) throw new Error(`stored ${String(stored)} drawings, expected ${drawings}`);
  await data.deleteDataset('quickdraw');
  // Let the observer deliver entries from the last round before reading them.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const during = longTasks.filter((t) => windows.some(([from, to]) => t.startTime + t.duration >= from && t.startTime <= to));
  result.longestMainThreadTaskMs = Math.max(0, ...during.map((t) => t.duration));
  return result;
}

// The Node side calls this through page.evaluate; a global is the only handle it has.
Object.assign(window, { runIngestBench });
