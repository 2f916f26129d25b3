// Downloading into real IndexedDB through an injected fetch that answers with real Responses and streamed
// bodies: success, resume after cancel, and each kind of bad input — every failure names what went wrong
// and leaves the shards stored before it exactly as they were.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { openDB } from 'idb';
import { ingest, MAX_WAITING_SHARDS, type IngestDeps, type IngestOptions } from '../../src/core/ingest/ingest.ts';
import { BITMAP_BYTES } from '../../src/core/data/render.ts';
import { sha256Hex } from '../../src/core/data/sha256.ts';
import { encodeShard, SHARD_HEADER_BYTES } from '../../src/core/data/shard.ts';
import type { DoodleLabSchema } from '../../src/core/data/database.ts';
import type { DrawingStore } from '../../src/core/data/store.ts';
import { decodeZeroRuns } from '../../src/core/data/zero-runs.ts';
import {
  MANIFEST_URL, drawingsOf, fakeServer, fileOf, freshStore, makeDataset, noSleep, recorder, streamOf, type Dataset, type FakeServer,
} from './helpers.ts';

let store: DrawingStore;
let dbName: string;
let dispose: () => Promise<void>;
beforeEach(async () => ({ store, name: dbName, dispose } = await freshStore()));
afterEach(async () => dispose());

function run(server: FakeServer, options: Partial<IngestOptions>, extra: Partial<IngestDeps> = {}) {
  const events = recorder();
  const finished = ingest(
    { manifestUrl: MANIFEST_URL, categories: ['cat', 'dog'], maxPerCategory: 300, ...options },
    { fetch: server.fetch, store, onProgress: events.onProgress, sleep: noSleep, ...extra },
  );
  return { events, finished };
}

async function counts(): Promise<Record<string, number>> {
  const quickdraw = (await store.listDatasets()).find((d) => d.datasetId === 'quickdraw');
  return Object.fromEntries((quickdraw?.categories ?? []).map((c) => [c.name, c.storedDrawings]));
}

/** Stores all of "cat" first, so that each failure below can be shown to leave it intact. */
async function storeCat(dataset: Dataset): Promise<void> {
  const { finished } = run(fakeServer(dataset), { categories: ['cat'] });
  expect((await finished).kind).toBe('done');
}

async function expectCatIntact(): Promise<void> {
  const page = await store.readDrawings('quickdraw', 'cat', 0, 300);
  expect(page.total).toBe(300);
  expect(page.bitmaps).toEqual(drawingsOf('cat', 0, 300));
}

/** Replaces a shard's bytes and, when `updateManifest`, its manifest entry too (the server's own mistake). */
async function replaceShard(dataset: Dataset, category: string, index: number, bytes: Uint8Array, updateManifest: boolean): Promise<void> {
  const url = fileOf(dataset, category, index);
  dataset.files.set(url, bytes);
  if (!updateManifest) return;
  const entry = dataset.manifest.shards.find((s) => s.category === category && s.index === index);
  if (entry === undefined) throw new Error('no such shard');
  entry.sizeBytes = bytes.length;
  entry.sha256 = await sha256Hex(bytes);
  dataset.files.set(MANIFEST_URL, new TextEncoder().encode(JSON.stringify(dataset.manifest)));
}

describe('ingest', () => {
  test('downloads, trims the last shard to maxPerCategory, and reports plan → progress → done', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    const server = fakeServer(dataset);
    let persistAsked = false;
    const storage = { persist: async () => (persistAsked = true), estimate: async () => ({ usage: 1234, quota: 5678 }) };
    const { events, finished } = run(server, { maxPerCategory: 250 }, { storage });
    const last = await finished;

    expect(last).toMatchObject({ kind: 'done', storedDrawings: 500 });
    expect(await counts()).toEqual({ cat: 250, dog: 250 });
    expect((await store.readDrawings('quickdraw', 'dog', 0, 1000)).bitmaps).toEqual(drawingsOf('dog', 0, 250));
    expect(events.events[0]).toMatchObject({ kind: 'plan', storedBytes: 0, categories: [{ name: 'cat', targetDrawings: 250, storedDrawings: 0 }, { name: 'dog', targetDrawings: 250, storedDrawings: 0 }] });
    expect(events.events.at(-1)).toBe(last);
    expect(persistAsked).toBe(true);
    expect(events.of('storage')[0]).toEqual({ kind: 'storage', persisted: true, usageBytes: 1234, quotaBytes: 5678 });
    const stored = events.of('shard-stored');
    expect(stored.map((e) => `${e.category}:${e.categoryStoredDrawings}`)).toEqual(['cat:100', 'dog:100', 'cat:200', 'dog:200', 'cat:250', 'dog:250']);
    expect(stored.at(-1)).toMatchObject({ storedDrawings: 500, targetDrawings: 500, etaSec: 0 });
    expect(stored.every((e) => e.drawingsPerSec > 0)).toBe(true);
    expect(stored.at(-1)?.bytesDone).toBe(stored.at(-1)?.totalBytes);
  });

  test('keeps zero-run-coded bitmaps coded in IndexedDB (whole shards as they arrived, the last one cut), and reads them back exactly', async () => {
    const dataset = await makeDataset(['cat']);
    const { finished } = run(fakeServer(dataset), { categories: ['cat'], maxPerCategory: 250 });
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 250 });
    const db = await openDB<DoodleLabSchema>(dbName);
    const records = await Promise.all([0, 1, 2].map((index) => db.get('shards', `quickdraw/cat/${index}`)));
    db.close();
    for (const [index, record] of records.entries()) {
      const file = dataset.files.get(fileOf(dataset, 'cat', index))!;
      const codedBytes = new DataView(file.buffer, file.byteOffset).getUint32(24, true);
      expect(record?.bitmapEncoding).toBe('zero-runs');
      expect(record?.drawingCount).toBe(index < 2 ? 100 : 50);
      // Whole shards: the file's stream byte for byte. The cut one: a prefix of it, shorter.
      if (index < 2) expect(record?.bitmaps).toEqual(file.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + codedBytes));
      else expect(record?.bitmaps.length).toBeLessThan(codedBytes * 0.6);
      expect(decodeZeroRuns(record!.bitmaps, record!.drawingCount * BITMAP_BYTES)).toEqual(drawingsOf('cat', index * 100, index * 100 + record!.drawingCount));
    }
    expect((await store.readDrawings('quickdraw', 'cat', 0, 300)).bitmaps).toEqual(drawingsOf('cat', 0, 250));
    expect((await store.readDrawings('quickdraw', 'cat', 95, 110)).bitmaps).toEqual(drawingsOf('cat', 95, 205));
    // The sizes listed are what is stored (no strokes here): the cut shard counts only what it kept.
    const listed = (await store.listDatasets())[0]?.categories[0]?.storedBytes;
    expect(listed).toBe(records.reduce((sum, record) => sum + (record?.bitmaps.length ?? NaN), 0));
  });

  test('a shard whose bitmaps the file keeps raw (coding would not shrink them) is stored raw and reads back exactly', async () => {
    const dataset = await makeDataset(['cat']);
    const dense = Uint8Array.from({ length: 100 * BITMAP_BYTES }, (_, i) => (i % 251) + 1);
    const bytes = encodeShard({ imageSizePx: 28, firstIndex: 0, bitmaps: dense, strokes: null });
    expect(new DataView(bytes.buffer).getUint16(20, true)).toBe(0);
    await replaceShard(dataset, 'cat', 0, bytes, true);
    const { finished } = run(fakeServer(dataset), { categories: ['cat'], maxPerCategory: 150 });
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 150 });
    const db = await openDB<DoodleLabSchema>(dbName);
    const [raw, coded] = await Promise.all([db.get('shards', 'quickdraw/cat/0'), db.get('shards', 'quickdraw/cat/1')]);
    db.close();
    expect([raw?.bitmapEncoding, raw?.bitmaps.length]).toEqual([undefined, 100 * BITMAP_BYTES]);
    expect(coded?.bitmapEncoding).toBe('zero-runs');
    const page = await store.readDrawings('quickdraw', 'cat', 0, 150);
    expect(page.bitmaps.subarray(0, 100 * BITMAP_BYTES)).toEqual(dense);
    expect(page.bitmaps.subarray(100 * BITMAP_BYTES)).toEqual(drawingsOf('cat', 100, 150));
  });

  test('downloads go on while a shard is written, up to a bounded number ahead, and the byte count never steps back', async () => {
    const dataset = await makeDataset(['cat', 'dog'], 5, 100);
    const server = fakeServer(dataset);
    const fetched = (): number => [...server.hits.keys()].filter((url) => url !== MANIFEST_URL).length;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let puts = 0;
    const slowStore = {
      storedShardKeys: (id: string) => store.storedShardKeys(id),
      putShard: async (...args: Parameters<DrawingStore['putShard']>) => {
        if (++puts === 1) await held;
        return store.putShard(...args);
      },
    };
    const fetchAhead = 2;
    const { events, finished } = run(server, { maxPerCategory: 500, fetchAhead, bytesEveryMs: 0 }, { store: slowStore });
    // While the first shard's write is held: the shard being written, plus `fetchAhead` downloading and
    // MAX_WAITING_SHARDS waiting, and no more.
    const ahead = 1 + fetchAhead + MAX_WAITING_SHARDS;
    await expect.poll(fetched, { timeout: 10_000 }).toBe(ahead);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fetched()).toBe(ahead);
    expect(puts).toBe(1);
    release();
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 1000 });
    expect(await counts()).toEqual({ cat: 500, dog: 500 });
    expect((await store.readDrawings('quickdraw', 'dog', 0, 500)).bitmaps).toEqual(drawingsOf('dog', 0, 500));
    const bytes = events.of('bytes');
    expect(bytes.length).toBeGreaterThan(10);
    expect(bytes.every((e, i) => i === 0 || e.bytesDone >= (bytes[i - 1]?.bytesDone ?? 0))).toBe(true);
  });

  test('resumes after a cancel mid-way: nothing downloaded twice, nothing duplicated, exact counts', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    const server = fakeServer(dataset);
    const controller = new AbortController();
    // Cancel as soon as the third shard is committed; the one being fetched ahead is dropped unwritten.
    const cancelled = await ingest(
      { manifestUrl: MANIFEST_URL, categories: ['cat', 'dog'], maxPerCategory: 300 },
      {
        fetch: server.fetch, store, sleep: noSleep, signal: controller.signal,
        onProgress: (event) => { if (event.kind === 'shard-stored' && event.storedDrawings === 300) controller.abort(); },
      },
    );
    expect(cancelled).toEqual({ kind: 'cancelled', storedDrawings: 300 });
    expect(await counts()).toEqual({ cat: 200, dog: 100 });

    const hitsBefore = new Map(server.hits);
    const resumed = run(server, {});
    expect(await resumed.finished).toMatchObject({ kind: 'done', storedDrawings: 600 });
    expect(resumed.events.events[0]).toMatchObject({ kind: 'plan', categories: [{ name: 'cat', storedDrawings: 200 }, { name: 'dog', storedDrawings: 100 }] });
    expect(resumed.events.of('shard-stored')).toHaveLength(3);
    for (const [category, index] of [['cat', 0], ['dog', 0], ['cat', 1]] as const) {
      expect(server.hits.get(fileOf(dataset, category, index))).toBe(hitsBefore.get(fileOf(dataset, category, index)));
    }
    expect(await counts()).toEqual({ cat: 300, dog: 300 });
    expect((await store.readDrawings('quickdraw', 'cat', 0, 300)).bitmaps).toEqual(drawingsOf('cat', 0, 300));
    expect((await store.readDrawings('quickdraw', 'dog', 0, 300)).bitmaps).toEqual(drawingsOf('dog', 0, 300));
    expect(await store.storedShardKeys('quickdraw')).toHaveProperty('size', 6);
  });

  test('a truncated shard stops with "truncated" naming the file; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 1);
    const full = dataset.files.get(url) ?? new Uint8Array();
    dataset.files.set(url, full.subarray(0, full.length >> 1));
    const { finished } = run(fakeServer(dataset), {});
    const last = await finished;
    expect(last).toMatchObject({ kind: 'error', error: { code: 'truncated', file: url } });
    expect(last.kind === 'error' && last.error.message).toMatch(new RegExp(`${url} is truncated: ${full.length >> 1} of ${full.length} bytes`));
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 100 });
  });

  test('a file with a wrong header (checksum right) stops with "bad-header"; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const bytes = new Uint8Array(dataset.files.get(fileOf(dataset, 'dog', 0)) ?? []);
    bytes.set([0x50, 0x4b, 0x03, 0x04]); // a zip file's magic where "QDSH" belongs
    await replaceShard(dataset, 'dog', 0, bytes, true);
    const last = await run(fakeServer(dataset), {}).finished;
    expect(last).toMatchObject({ kind: 'error', error: { code: 'bad-header', message: expect.stringMatching(/not a Doodle Lab shard \(wrong header\)/) } });
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300 });
  });

  test('a corrupt shard fails its checksum with a message naming the file; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 2);
    const bytes = new Uint8Array(dataset.files.get(url) ?? []);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    dataset.files.set(url, bytes);
    const last = await run(fakeServer(dataset), {}).finished;
    expect(last).toMatchObject({ kind: 'error', error: { code: 'checksum', file: url, message: expect.stringContaining(`${url} failed its checksum`) } });
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 200 });
  });

  test('a 404 is final (no retry) and names the URL; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 1);
    dataset.files.delete(url);
    const server = fakeServer(dataset);
    const { events, finished } = run(server, {});
    expect(await finished).toMatchObject({ kind: 'error', error: { code: 'http', file: url, message: expect.stringContaining(`The server has no ${url} (HTTP 404)`) } });
    expect(server.hits.get(url)).toBe(1);
    expect(events.of('retry')).toEqual([]);
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 100 });
  });

  test('a 500 is retried with exponential backoff and then succeeds', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 0);
    const server = fakeServer(dataset);
    server.on(url, (_, attempt) => (attempt <= 2 ? new Response('oops', { status: 500 }) : undefined));
    const delays: number[] = [];
    const { events, finished } = run(server, {}, { sleep: async (ms) => void delays.push(ms) });
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 600 });
    expect(delays).toEqual([250, 500]);
    expect(events.of('retry')).toEqual([
      { kind: 'retry', file: 'shards/001-0000.qds', attempt: 2, delayMs: 250, reason: `The server answered HTTP 500 for ${url}.` },
      { kind: 'retry', file: 'shards/001-0000.qds', attempt: 3, delayMs: 500, reason: `The server answered HTTP 500 for ${url}.` },
    ]);
    expect(await counts()).toEqual({ cat: 300, dog: 300 });
  });

  test('a 500 that persists is retried, then given up with a clear message; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 1);
    const server = fakeServer(dataset);
    server.on(url, () => new Response('oops', { status: 503 }));
    const { events, finished } = run(server, {});
    expect(await finished).toMatchObject({ kind: 'error', error: { code: 'http', file: url, message: expect.stringMatching(/HTTP 503 .*Gave up after 3 tries/) } });
    expect(server.hits.get(url)).toBe(3);
    expect(events.of('retry')).toHaveLength(2);
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 100 });
  });

  test('a connection dropped mid-shard is retried, and reported as a network error when it keeps dropping', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const once = fileOf(dataset, 'dog', 0), always = fileOf(dataset, 'dog', 1);
    const server = fakeServer(dataset);
    const half = (url: string) => Math.floor((dataset.files.get(url)?.length ?? 0) / 2);
    server.on(once, (url, attempt, signal) => (attempt === 1 ? new Response(streamOf(dataset.files.get(url) ?? new Uint8Array(), signal, { dropAfter: half(url) })) : undefined));
    server.on(always, (url, _, signal) => new Response(streamOf(dataset.files.get(url) ?? new Uint8Array(), signal, { dropAfter: half(url), type: 'default' })));
    const { events, finished } = run(server, {});
    expect(await finished).toMatchObject({
      kind: 'error', error: { code: 'network', file: always, message: expect.stringMatching(new RegExp(`dropped after ${half(always)} of .* Gave up after 3 tries`)) },
    });
    // The two shards download side by side, so their retries interleave in either order.
    expect(events.of('retry').map((e) => e.file).sort()).toEqual(['shards/001-0000.qds', 'shards/001-0001.qds', 'shards/001-0001.qds']);
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 100 });
  });

  for (const type of ['bytes', 'default'] as const) {
    test(`a shard longer than its manifest entry (${type} stream) is rejected; earlier shards are kept`, async () => {
      const dataset = await makeDataset(['cat', 'dog']);
      await storeCat(dataset);
      const url = fileOf(dataset, 'dog', 0);
      const server = fakeServer(dataset);
      const longer = new Uint8Array([...(dataset.files.get(url) ?? []), 0]);
      server.on(url, (_, __, signal) => new Response(streamOf(longer, signal, { type })));
      expect(await run(server, {}).finished).toMatchObject({ kind: 'error', error: { code: 'checksum', file: url, message: expect.stringContaining('is longer than the') } });
      await expectCatIntact();
      expect(await counts()).toEqual({ cat: 300 });
    });
  }

  test('an empty file stops with "empty"; earlier shards are kept', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    const url = fileOf(dataset, 'dog', 0);
    dataset.files.set(url, new Uint8Array(0));
    expect(await run(fakeServer(dataset), {}).finished).toMatchObject({ kind: 'error', error: { code: 'empty', file: url, message: expect.stringContaining('arrived empty') } });
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300 });
  });

  test('category names with spaces and non-ASCII letters download and list exactly', async () => {
    const names = ['The Eiffel Tower', 'café au lait', 'Ünïcödé 猫'];
    const dataset = await makeDataset(names, 2, 50);
    const { finished } = run(fakeServer(dataset), { categories: names, maxPerCategory: 100 });
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 300 });
    expect(await counts()).toEqual({ 'The Eiffel Tower': 100, 'café au lait': 100, 'Ünïcödé 猫': 100 });
    expect((await store.readDrawings('quickdraw', 'Ünïcödé 猫', 0, 100)).bitmaps).toEqual(drawingsOf('Ünïcödé 猫', 0, 100));
  });

  // Chromium reports a quota it enforces as QuotaExceededError, and a disk that really fills up under its blob
  // files as a DataError "Failed to write blobs (IOError)" (seen on a small real disk in e2e/errors.spec.ts).
  const diskFull = [
    ['QuotaExceededError', () => new DOMException('The quota has been exceeded.', 'QuotaExceededError')],
    ['blob write IOError', () => new DOMException('Failed to write blobs (IOError)', 'DataError')],
  ] as const;
  test.each(diskFull)('a full disk (%s) stops with a quota error that says what to free; earlier shards are kept', async (_name, failure) => {
    const dataset = await makeDataset(['cat', 'dog']);
    await storeCat(dataset);
    let puts = 0;
    const fullDisk = {
      storedShardKeys: (id: string) => store.storedShardKeys(id),
      putShard: async (...args: Parameters<DrawingStore['putShard']>) => {
        if (++puts === 2) throw failure();
        return store.putShard(...args);
      },
    };
    const last = await run(fakeServer(dataset), {}, { store: fullDisk }).finished;
    expect(last).toMatchObject({ kind: 'error', error: { code: 'quota', message: expect.stringMatching(/storage is full.*Delete a dataset you no longer need/) } });
    await expectCatIntact();
    expect(await counts()).toEqual({ cat: 300, dog: 100 });
    expect((await store.readDrawings('quickdraw', 'dog', 0, 200)).bitmaps).toEqual(drawingsOf('dog', 0, 100));
  });

  test('another IndexedDB failure is not mistaken for a full disk', async () => {
    const dataset = await makeDataset(['cat', 'dog']);
    const broken = {
      storedShardKeys: (id: string) => store.storedShardKeys(id),
      putShard: async () => { throw new DOMException('Database is closing', 'InvalidStateError'); },
    };
    const last = await run(fakeServer(dataset), {}, { store: broken }).finished;
    expect(last).toMatchObject({ kind: 'error', error: { code: 'internal' } });
  });

  test('a shard with strokes is trimmed to maxPerCategory, and bytes progress is reported while it arrives', async () => {
    const dataset = await makeDataset(['cat'], 1, 200, true);
    const server = fakeServer(dataset);
    // A plain (non-byte) stream, as Safari's fetch bodies are: read by copying chunks instead of BYOB.
    server.on(fileOf(dataset, 'cat', 0), (url, _, signal) => new Response(streamOf(dataset.files.get(url) ?? new Uint8Array(), signal, { type: 'default' })));
    const { events, finished } = run(server, { categories: ['cat'], maxPerCategory: 150, bytesEveryMs: 0 });
    expect(await finished).toMatchObject({ kind: 'done', storedDrawings: 150 });
    const bytes = events.of('bytes');
    expect(bytes.length).toBeGreaterThan(3);
    expect(bytes.every((e, i) => i === 0 || e.bytesDone >= (bytes[i - 1]?.bytesDone ?? 0))).toBe(true);
    expect(await counts()).toEqual({ cat: 150 });
    expect((await store.readDrawings('quickdraw', 'cat', 0, 150)).bitmaps.length).toBe(150 * BITMAP_BYTES);
  });
});
