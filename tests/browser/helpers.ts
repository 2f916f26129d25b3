// Fixtures for the browser tests, made by code: shards in the current format with their manifest, a fake server that
// answers with real Response objects and streamed bodies (and can misbehave on cue), and throwaway databases.
import type { IngestProgress } from '../../src/core/ingest/ingest-protocol.ts';
import type { DatasetManifest } from '../../src/core/data/manifest.ts';
import type { Strokes } from '../../src/core/data/ndjson.ts';
import { BITMAP_BYTES } from '../../src/core/data/render.ts';
import { sha256Hex } from '../../src/core/data/sha256.ts';
import { Random } from '../../src/core/training/random.ts';
import { RunStore } from '../../src/core/training/runs.ts';
import { encodeShard, SHARD_FORMAT_VERSION } from '../../src/core/data/shard.ts';
import { DrawingStore } from '../../src/core/data/store.ts';

export const BASE_URL = 'https://data.example/quickdraw/';
export const MANIFEST_URL = `${BASE_URL}manifest.json`;

/**
 * The bitmap of drawing `n` of `category`: a byte pattern unique to both, so any mix-up shows. Like a real
 * sketch it is mostly 0 (4 pixels in 5), so shards built from it are zero-run coded, as the served ones are.
 */
export function drawingBitmap(category: string, n: number): Uint8Array {
  let seed = n * 31 + 7;
  for (const ch of category) seed = (seed * 33 + (ch.codePointAt(0) ?? 0)) % 65_521;
  const bitmap = new Uint8Array(BITMAP_BYTES);
  for (let i = 0; i < BITMAP_BYTES; i++) bitmap[i] = (i + seed) % 5 === 0 ? ((seed + i * 13 + n) % 255) + 1 : 0;
  return bitmap;
}

export function drawingsOf(category: string, from: number, to: number): Uint8Array {
  const out = new Uint8Array((to - from) * BITMAP_BYTES);
  for (let n = from; n < to; n++) out.set(drawingBitmap(category, n), (n - from) * BITMAP_BYTES);
  return out;
}

export interface Dataset {
  manifest: DatasetManifest;
  /** Shard bytes by absolute URL (manifest included, as JSON). */
  files: Map<string, Uint8Array>;
}

/** A served dataset: each category gets `shardsPer` shards of `perShard` drawings; `withStrokes` adds strokes. */
export async function makeDataset(categories: string[], shardsPer = 3, perShard = 100, withStrokes = false): Promise<Dataset> {
  const files = new Map<string, Uint8Array>();
  const shards: DatasetManifest['shards'] = [];
  for (const [c, category] of categories.entries()) {
    for (let index = 0; index < shardsPer; index++) {
      const firstIndex = index * perShard;
      const strokes: Strokes[] | null = withStrokes
        ? Array.from({ length: perShard }, (_, i) => [[[0, 10 + i], [0, 20]]])
        : null;
      const bytes = encodeShard({ imageSizePx: 28, firstIndex, bitmaps: drawingsOf(category, firstIndex, firstIndex + perShard), strokes });
      const file = `shards/${String(c).padStart(3, '0')}-${String(index).padStart(4, '0')}.qds`;
      files.set(BASE_URL + file, bytes);
      shards.push({ file, category, index, firstIndex, drawingCount: perShard, sizeBytes: bytes.length, sha256: await sha256Hex(bytes), hasStrokes: withStrokes });
    }
  }
  const manifest: DatasetManifest = {
    formatVersion: SHARD_FORMAT_VERSION, name: 'test', imageSizePx: 28, drawingsPerShard: perShard,
    categories: categories.map((name) => ({ name, drawingCount: shardsPer * perShard })), shards,
  };
  files.set(MANIFEST_URL, new TextEncoder().encode(JSON.stringify(manifest)));
  return { manifest, files };
}

export const fileOf = (dataset: Dataset, category: string, index: number): string => {
  const entry = dataset.manifest.shards.find((s) => s.category === category && s.index === index);
  if (entry === undefined) throw new Error(`no shard ${category}/${index}`);
  return BASE_URL + entry.file;
};

export interface StreamOptions {
  /** Fail the connection after this many bytes. */
  dropAfter?: number;
  chunkBytes?: number;
  /** 'bytes' (the default) behaves like a fetch body in Chromium and allows BYOB reads; 'default' does not. */
  type?: 'bytes' | 'default';
}

/** A body that arrives in chunks and errors when `signal` aborts, as a real fetch body does. */
export function streamOf(bytes: Uint8Array, signal: AbortSignal, { dropAfter, chunkBytes = 16_384, type = 'bytes' }: StreamOptions = {}): ReadableStream<Uint8Array> {
  let offset = 0;
  const source = {
    start(controller: ReadableStreamController<Uint8Array>) {
      signal.addEventListener('abort', () => controller.error(signal.reason), { once: true });
    },
    pull(controller: ReadableStreamController<Uint8Array>) {
      if (signal.aborted) return;
      if (dropAfter !== undefined && offset >= dropAfter) {
        controller.error(new TypeError('network error: connection reset'));
        return;
      }
      if (offset >= bytes.length) {
        controller.close();
        // A byte stream holds a pending BYOB read open until it is answered, even after close().
        if ('byobRequest' in controller) controller.byobRequest?.respond(0);
        return;
      }
      const end = Math.min(bytes.length, offset + chunkBytes, dropAfter ?? Infinity);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  };
  return type === 'bytes' ? new ReadableStream({ ...source, type: 'bytes' }) : new ReadableStream<Uint8Array>(source);
}

/** How the fake server answers one request; `attempt` counts requests for that URL from 1. */
export type Responder = (url: string, attempt: number, signal: AbortSignal) => Response | undefined;

export interface FakeServer {
  fetch: (url: string, init: { signal: AbortSignal }) => Promise<Response>;
  hits: Map<string, number>;
  /** Overrides answers for one URL until removed. */
  on: (url: string, responder: Responder) => void;
}

export function fakeServer(dataset: Dataset): FakeServer {
  const hits = new Map<string, number>();
  const overrides = new Map<string, Responder>();
  return {
    hits,
    on: (url, responder) => void overrides.set(url, responder),
    fetch: async (url, { signal }) => {
      signal.throwIfAborted();
      const attempt = (hits.get(url) ?? 0) + 1;
      hits.set(url, attempt);
      const special = overrides.get(url)?.(url, attempt, signal);
      if (special !== undefined) return special;
      const bytes = dataset.files.get(url);
      if (bytes === undefined) return new Response('Not Found', { status: 404 });
      return new Response(streamOf(bytes, signal), { status: 200 });
    },
  };
}

/** A database of its own for one test, deleted afterwards. */
export async function freshStore(): Promise<{ store: DrawingStore; name: string; dispose: () => Promise<void> }> {
  const name = `doodle-lab-test-${crypto.randomUUID()}`;
  const store = await DrawingStore.open(name);
  return {
    store,
    name,
    dispose: async () => {
      store.close();
      await deleteDatabase(name);
    },
  };
}

/** Deletes a test's own database; resolves even when the deletion is blocked or fails. */
export function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}

/** Collects progress events, with a typed filter by kind. */
export function recorder() {
  const events: IngestProgress[] = [];
  return {
    events,
    onProgress: (event: IngestProgress): void => void events.push(event),
    of: <K extends IngestProgress['kind']>(kind: K) =>
      events.filter((e): e is Extract<IngestProgress, { kind: K }> => e.kind === kind),
  };
}

export const noSleep = (): Promise<void> => Promise.resolve();

/** The three classes of `barStores`. */
export const BAR_CATEGORIES = ['left', 'middle', 'right'];

export interface BarOptions {
  seed: number;
  perCategory: number;
  /** Bars of class c start at x = 3 + c × spacing, shifted right by up to maxShift - 1 pixels. */
  spacing: number;
  maxShift: number;
}

/**
 * A drawing store and a run store in one throwaway database, holding three classes of vertical bars for a
 * whole training run; `close` closes and deletes them. Closer spacing and wider shifts make the classes overlap.
 */
export async function barStores(prefix: string, { seed, perCategory, spacing, maxShift }: BarOptions): Promise<{ name: string; drawings: DrawingStore; runs: RunStore; close: () => Promise<void> }> {
  const name = `${prefix}-${crypto.randomUUID()}`;
  const drawings = await DrawingStore.open(name);
  const runs = await RunStore.open(name);
  const close = async (): Promise<void> => {
    drawings.close();
    runs.close();
    await deleteDatabase(name);
  };
  const random = new Random(seed);
  for (const [c, category] of BAR_CATEGORIES.entries()) {
    const bitmaps = new Uint8Array(perCategory * BITMAP_BYTES);
    for (let n = 0; n < perCategory; n++) {
      const shift = Math.floor(random.next() * maxShift);
      for (let y = 4; y < 24; y++) for (let x = 0; x < 3; x++) bitmaps[n * BITMAP_BYTES + y * 28 + 3 + c * spacing + x + shift] = 255;
    }
    await drawings.putShard({ datasetId: 'quickdraw', label: 'test', source: 'local' }, { category, index: 0, firstIndex: 0, bitmaps, strokes: null, sha256: 'x', sizeBytes: bitmaps.length });
  }
  return { name, drawings, runs, close };
}

/** `perClass` drawings of each of 3 classes, a vertical bar at a class's own place with a small random shift:
 * a task the trainer learns in a few steps. */
export function bars(perClass: number, seed: number): { bitmaps: Uint8Array; labels: Int32Array } {
  const random = new Random(seed);
  const bitmaps = new Uint8Array(perClass * 3 * 784);
  const labels = new Int32Array(perClass * 3);
  for (let n = 0; n < labels.length; n++) {
    labels[n] = n % 3;
    const shift = Math.floor(random.next() * 3);
    for (let y = 4; y < 24; y++) for (let x = 0; x < 3; x++) bitmaps[n * 784 + y * 28 + 3 + labels[n]! * 9 + x + shift] = 255;
  }
  return { bitmaps, labels };
}
