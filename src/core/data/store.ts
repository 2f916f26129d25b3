// The IndexedDB repository for stored drawings: downloaded shards, imports and own drawings, one shard a
// record, each committed in one transaction together with its dataset row (which catalogues the shards, so
// listing and paging never load bitmaps). Runs in the data worker (and in browser tests); pure TS on `idb`.
import type { IDBPTransaction, StoreNames } from 'idb';
import { isQuotaError, quotaError, storageError } from '../errors.ts';
import type { CategorySummary, DrawingPage, StoredDatasetSummary } from '../ingest/ingest-protocol.ts';
import type { Strokes } from './ndjson.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX } from './render.ts';
import { decodeZeroRuns } from './zero-runs.ts';
import {
  Connection, DB_NAME, openDatabase, shardKey, type DatasetInfo, type DatasetRecord, type Db, type DoodleLabSchema, type ShardMeta, type ShardRecord, type ZeroRunBitmaps,
} from './database.ts';

type WriteTx = IDBPTransaction<DoodleLabSchema, StoreNames<DoodleLabSchema>[], 'readwrite'>;

/** A shard to store: raw bitmaps, or coded ones, which are about 2.5× fewer bytes to write and keep. */
export type NewShard = Omit<ShardMeta, 'drawingCount'> & { bitmaps: Uint8Array | ZeroRunBitmaps; strokes: Strokes[] | null };

/** What `storedShardKeys` reports for each stored shard, so a resume can tell complete shards from trimmed or stale ones. */
export interface StoredShard {
  sha256: string;
  drawingCount: number;
}

/**
 * Relaxed durability lets the browser acknowledge a commit before flushing it to disk: a power cut can lose
 * the last few shards, which a resume simply downloads again, and each shard stays all-or-nothing.
 */
const WRITE_OPTIONS: IDBTransactionOptions = { durability: 'relaxed' };

export class DrawingStore {
  private constructor(private readonly connection: Connection<Db>) {}

  /** A store whose database opens on first use, and again after the browser or another tab closed it. */
  static connect(name = DB_NAME): DrawingStore {
    return new DrawingStore(new Connection((onClosed) => openDatabase(name, onClosed)));
  }

  /** Like `connect`, but opens the database now, so a failure to open shows here. */
  static async open(name = DB_NAME): Promise<DrawingStore> {
    const store = DrawingStore.connect(name);
    await store.connection.get();
    return store;
  }

  /** The dataset row with its shard catalog, or undefined. */
  async getDataset(datasetId: string): Promise<DatasetRecord | undefined> {
    return this.db((db) => db.get('datasets', datasetId));
  }

  close(): void {
    this.connection.close();
  }

  private db<R>(action: (db: Db) => Promise<R>): Promise<R> {
    return this.connection.use(action);
  }

  /** Writes one shard and its catalog entry in one transaction; a shard with the same key is replaced. */
  async putShard(dataset: DatasetInfo, shard: NewShard): Promise<void> {
    const record = toRecord(dataset.datasetId, shard);
    await this.write(`the ${shard.category} drawings`, async (tx) => {
      const row = await tx.objectStore('datasets').get(dataset.datasetId);
      const shards = (row?.shards ?? []).filter((s) => !(s.category === shard.category && s.index === shard.index));
      shards.push(metaOf(record));
      await Promise.all([
        tx.objectStore('shards').put(record, shardKey(dataset.datasetId, shard.category, shard.index)),
        tx.objectStore('datasets').put({ ...dataset, updatedAt: Date.now(), shards }),
      ]);
    });
  }

  /**
   * Appends drawings to a category as a new shard (next index, firstIndex = drawings stored so far), in one
   * transaction so two appends cannot pick the same index. Returns the category afterwards.
   */
  async addDrawings(dataset: DatasetInfo, category: string, bitmaps: Uint8Array, strokes: Strokes[] | null): Promise<CategorySummary> {
    let summary: CategorySummary | undefined;
    await this.write(`the ${category} drawings`, async (tx) => {
      const row = await tx.objectStore('datasets').get(dataset.datasetId);
      const own = (row?.shards ?? []).filter((s) => s.category === category);
      const index = own.reduce((next, s) => Math.max(next, s.index + 1), 0);
      const firstIndex = own.reduce((sum, s) => sum + s.drawingCount, 0);
      const record = toRecord(dataset.datasetId, { category, index, firstIndex, bitmaps, strokes, sha256: '', sizeBytes: sizeOf(bitmaps, strokes) });
      const shards = [...(row?.shards ?? []), metaOf(record)];
      summary = summarize(dataset.datasetId, shards).find((c) => c.name === category);
      await Promise.all([
        tx.objectStore('shards').put(record, shardKey(dataset.datasetId, category, index)),
        tx.objectStore('datasets').put({ ...dataset, updatedAt: Date.now(), shards }),
      ]);
    });
    if (summary === undefined) throw new Error('addDrawings: the new shard is missing from its own catalog');
    return summary;
  }

  /** Every stored shard of a dataset by key, with what it holds. */
  async storedShardKeys(datasetId: string): Promise<Map<string, StoredShard>> {
    const row = await this.db((db) => db.get('datasets', datasetId));
    return new Map((row?.shards ?? []).map((s) => [shardKey(datasetId, s.category, s.index), { sha256: s.sha256, drawingCount: s.drawingCount }]));
  }

  async listDatasets(): Promise<StoredDatasetSummary[]> {
    const rows = await this.db((db) => db.getAll('datasets'));
    return rows.map((row) => {
      const categories = summarize(row.datasetId, row.shards);
      return {
        datasetId: row.datasetId,
        label: row.label,
        categories,
        storedDrawings: categories.reduce((sum, c) => sum + c.storedDrawings, 0),
        storedBytes: categories.reduce((sum, c) => sum + c.storedBytes, 0),
      };
    });
  }

  /** Up to `limit` drawings of a category starting at `offset` (0-based, in stored order). */
  async readDrawings(datasetId: string, category: string, offset: number, limit: number): Promise<DrawingPage> {
    return this.db((db) => this.readPage(db, datasetId, category, offset, limit));
  }

  private async readPage(db: Db, datasetId: string, category: string, offset: number, limit: number): Promise<DrawingPage> {
    const tx = db.transaction(['datasets', 'shards'], 'readonly');
    const row = await tx.objectStore('datasets').get(datasetId);
    const own = (row?.shards ?? []).filter((s) => s.category === category).sort((a, b) => a.index - b.index);
    const total = own.reduce((sum, s) => sum + s.drawingCount, 0);
    const start = Math.max(0, Math.min(Math.floor(offset), total));
    const end = Math.min(total, start + Math.max(0, Math.floor(limit)));
    const bitmaps = new Uint8Array((end - start) * BITMAP_BYTES);
    // Positions count stored drawings, so a gap left by a failed download does not leave holes in the grid.
    const wanted: { meta: ShardMeta; from: number; to: number; at: number }[] = [];
    let position = 0;
    for (const meta of own) {
      const from = Math.max(start, position), to = Math.min(end, position + meta.drawingCount);
      if (from < to) wanted.push({ meta, from: from - position, to: to - position, at: from - start });
      position += meta.drawingCount;
    }
    const records = await Promise.all(wanted.map(({ meta }) => tx.objectStore('shards').get(shardKey(datasetId, category, meta.index))));
    await tx.done;
    wanted.forEach(({ meta, from, to, at }, i) => {
      const record = records[i];
      const key = shardKey(datasetId, category, meta.index);
      if (record === undefined) throw new Error(`Shard ${key} is catalogued but missing; delete the dataset and download it again.`);
      const pixels = record.bitmapEncoding === 'zero-runs' ? decodeZeroRuns(record.bitmaps, record.drawingCount * BITMAP_BYTES) : record.bitmaps;
      if (pixels === null) throw new Error(`Shard ${key} is damaged in storage; delete the dataset and download it again.`);
      bitmaps.set(pixels.subarray(from * BITMAP_BYTES, to * BITMAP_BYTES), at * BITMAP_BYTES);
    });
    return { datasetId, category, offset: start, total, bitmaps };
  }

  /** Deletes one dataset's row and every shard it owns, in one transaction; other datasets are untouched. */
  async deleteDataset(datasetId: string): Promise<void> {
    await this.write('the deletion', async (tx) => {
      // Arrays sort after strings, so [id, []] bounds every [id, category] key.
      const range = IDBKeyRange.bound([datasetId], [datasetId, []]);
      const shards = tx.objectStore('shards');
      const keys = await shards.index('byCategory').getAllKeys(range);
      await Promise.all([...keys.map((key) => shards.delete(key)), tx.objectStore('datasets').delete(datasetId)]);
    });
  }

  /**
   * Runs `work` in one read-write transaction over both stores and waits for the commit. A full disk shows up
   * as a QuotaExceededError on a request or as the error of the aborted transaction; both become
   * DataError('quota'). Any other failure the browser reports becomes DataError('storage'). `work` must
   * only await requests of `tx` (idb's transaction-lifetime rule).
   */
  private write(what: string, work: (tx: WriteTx) => Promise<void>): Promise<void> {
    // A connection found closed fails `transaction()` before anything ran: `db` then tries once more on a new one.
    return this.db((db) => this.writeOn(db, what, work));
  }

  private async writeOn(db: Db, what: string, work: (tx: WriteTx) => Promise<void>): Promise<void> {
    const tx = db.transaction(['shards', 'datasets'], 'readwrite', WRITE_OPTIONS);
    // Attach handlers now: if `work` fails first, the later rejection of `done` must not go unhandled.
    const done = tx.done.then(() => null, (error: unknown) => error ?? new Error('transaction aborted'));
    let failure: unknown = null;
    try {
      await work(tx);
    } catch (error) {
      failure = error;
      try { tx.abort(); } catch { /* already finished or aborting */ }
    }
    const commitError = await done;
    if (failure === null && commitError === null) return;
    if (isQuotaError(failure) || isQuotaError(commitError) || isQuotaError(tx.error)) throw quotaError(what);
    const error = failure ?? commitError;
    throw error instanceof DOMException ? storageError(what, error) : error;
  }
}

/** What a shard takes in storage, as the Data page lists it: its stored bitmap bytes and its strokes' JSON. */
export function sizeOf(bitmaps: Uint8Array, strokes: Strokes[] | null): number {
  return bitmaps.byteLength + (strokes === null ? 0 : JSON.stringify(strokes).length);
}

function toRecord(datasetId: string, shard: NewShard): ShardRecord {
  const coded = shard.bitmaps instanceof Uint8Array ? null : shard.bitmaps;
  const stored = coded?.zeroRuns ?? (shard.bitmaps as Uint8Array);
  if (coded === null && (stored.length === 0 || stored.length % BITMAP_BYTES !== 0)) {
    throw new Error(`A shard of ${shard.category} must hold whole ${BITMAP_SIDE_PX}×${BITMAP_SIDE_PX} bitmaps; got ${stored.length} bytes.`);
  }
  const drawingCount = coded?.drawingCount ?? stored.length / BITMAP_BYTES;
  if (!Number.isInteger(drawingCount) || drawingCount <= 0) throw new Error(`A shard of ${shard.category} must hold at least one drawing.`);
  if (shard.strokes !== null && shard.strokes.length !== drawingCount) throw new Error('strokes and bitmaps disagree in count');
  // A view is cloned into the database with its whole buffer. A downloaded shard's bitmaps are its file minus
  // a 32-byte header, so storing the view costs nothing; a view that shares its buffer with much more (the
  // strokes JSON, a whole .npy file) is copied so that only its own bytes are kept.
  const spareBytes = stored.buffer.byteLength - stored.byteLength;
  const bitmaps = spareBytes <= 4096 ? stored : stored.slice();
  return { ...shard, datasetId, drawingCount, bitmaps, ...(coded === null ? {} : { bitmapEncoding: 'zero-runs' as const }) };
}

function metaOf(record: ShardRecord): ShardMeta {
  const { category, index, firstIndex, drawingCount, sha256, sizeBytes } = record;
  return { category, index, firstIndex, drawingCount, sha256, sizeBytes };
}

function summarize(datasetId: string, shards: ShardMeta[]): CategorySummary[] {
  const byName = new Map<string, CategorySummary>();
  for (const s of shards) {
    const summary = byName.get(s.category) ?? { datasetId, name: s.category, storedDrawings: 0, storedBytes: 0 };
    summary.storedDrawings += s.drawingCount;
    summary.storedBytes += s.sizeBytes;
    byName.set(s.category, summary);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
