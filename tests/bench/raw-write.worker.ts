// Bench-only worker for `npm run bench:ingest`: the raw-write baseline (the bytes the ingest stores, zero-run
// coded as the shards carry them, put straight into IndexedDB, one transaction a shard, nothing else), the core
// ingest with a chosen fetchAhead or without storing, and the downloads alone, to see what fetching ahead buys
// and what the network alone costs. Module Web Worker.
import * as Comlink from 'comlink';
import { deleteDB, openDB } from 'idb';
import { ingest } from '../../src/core/ingest/ingest.ts';
import { shardsFor, validateManifest } from '../../src/core/data/manifest.ts';
import { streamInto, verify } from '../../src/core/ingest/shard-fetch.ts';
import { DrawingStore } from '../../src/core/data/store.ts';

interface Loaded {
  key: string;
  category: string;
  index: number;
  firstIndex: number;
  sha256: string;
  sizeBytes: number;
  drawingCount: number;
  /** What the ingest stores: the zero-run stream when the shard is coded, else the pixels. */
  bitmaps: Uint8Array;
  bitmapEncoding?: 'zero-runs';
}

const RAW_DB = 'doodle-lab-bench-raw';
const CORE_DB = 'doodle-lab-bench-core';
let loaded: Loaded[] = [];

const api = {
  /** Downloads and verifies the planned shards once, untimed, so `rawWrite` times nothing but IndexedDB. */
  async load(manifestUrl: string, categories: string[], maxPerCategory: number): Promise<{ drawings: number; storedBytes: number }> {
    const manifest = validateManifest(await (await fetch(manifestUrl)).json(), manifestUrl);
    loaded = [];
    for (const category of categories) {
      for (const entry of shardsFor(manifest, category, maxPerCategory)) {
        const url = new URL(entry.file, manifestUrl).href;
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const keep = Math.min(entry.drawingCount, maxPerCategory - entry.firstIndex);
        // The same check and cut as the ingest, so this stores the very bytes (and buffers) it stores.
        const { bitmaps } = await verify(bytes, { entry, url, keep });
        const coded = bitmaps instanceof Uint8Array ? null : bitmaps.zeroRuns;
        loaded.push({
          key: `raw/${category}/${entry.index}`, category, index: entry.index, firstIndex: entry.firstIndex, sha256: entry.sha256, sizeBytes: entry.sizeBytes,
          drawingCount: keep, ...(coded === null ? { bitmaps: bitmaps as Uint8Array } : { bitmaps: coded, bitmapEncoding: 'zero-runs' as const }),
        });
      }
    }
    return { drawings: loaded.reduce((sum, s) => sum + s.drawingCount, 0), storedBytes: loaded.reduce((sum, s) => sum + s.bitmaps.length, 0) };
  },

  /** Puts every loaded shard into a fresh database, one relaxed-durability transaction each; returns ms. */
  async rawWrite(): Promise<number> {
    await deleteDB(RAW_DB);
    const db = await openDB(RAW_DB, 1, { upgrade: (database) => void database.createObjectStore('shards') });
    const started = performance.now();
    for (const shard of loaded) {
      const tx = db.transaction('shards', 'readwrite', { durability: 'relaxed' });
      await Promise.all([tx.store.put({ datasetId: 'raw', strokes: null, ...shard }, shard.key), tx.done]);
    }
    const elapsedMs = performance.now() - started;
    db.close();
    await deleteDB(RAW_DB);
    return elapsedMs;
  },

  /**
   * Only the downloads: the planned shards' bodies streamed into their buffers as the ingest does, two in flight,
   * no checksum, no checks, nothing stored. Returns ms. The ingest cannot beat this, so this rate over the
   * raw-write rate caps the ratio the benchmark reports.
   */
  async fetchOnly(manifestUrl: string, categories: string[], maxPerCategory: number): Promise<number> {
    const started = performance.now();
    const manifest = validateManifest(await (await fetch(manifestUrl)).json(), manifestUrl);
    const entries = categories.flatMap((category) => shardsFor(manifest, category, maxPerCategory));
    const signal = new AbortController().signal;
    const lanes = [0, 1].map(async (lane) => {
      for (let i = lane; i < entries.length; i += 2) {
        const url = new URL(entries[i]!.file, manifestUrl).href;
        await streamInto(await fetch(url), new Uint8Array(entries[i]!.sizeBytes), url, signal, () => undefined);
      }
    });
    await Promise.all(lanes);
    return performance.now() - started;
  },

  /**
   * The core ingest (as the data worker runs it) into a fresh database with `fetchAhead` shards in flight;
   * with `discard`, shards are checked as the ingest checks them but not stored: the network-and-verify floor. Returns ms.
   */
  async coreIngest(manifestUrl: string, categories: string[], maxPerCategory: number, fetchAhead: number, discard = false): Promise<number> {
    await deleteDB(CORE_DB);
    const store = await DrawingStore.open(CORE_DB);
    const target = discard ? { storedShardKeys: async () => new Map(), putShard: async () => undefined } : store;
    const started = performance.now();
    const last = await ingest({ manifestUrl, categories, maxPerCategory, fetchAhead }, { fetch: (url, init) => fetch(url, init), store: target, onProgress: () => undefined });
    const elapsedMs = performance.now() - started;
    store.close();
    await deleteDB(CORE_DB);
    if (last.kind !== 'done') throw new Error(`core ingest ended with ${JSON.stringify(last)}`);
    return elapsedMs;
  },
};

export type RawWriteApi = typeof api;

Comlink.expose(api);
