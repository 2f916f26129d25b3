// The app's IndexedDB database: its name and version, the record of every object store (drawings' shards and
// datasets, training runs, checkpoints, imported models), their keys, and one migration a version. The drawings
// repository (store.ts) and the runs repository (training/runs.ts) both open it through openDatabase.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { StoredModel } from '../exchange/model-import.ts';
import type { CheckpointRecord, RunRecord } from '../training/run-protocol.ts';
import type { Strokes } from './ndjson.ts';
import { isQuotaError, unopenedError } from '../errors.ts';

export const DB_NAME = 'doodle-lab';
export const DB_VERSION = 3;

/** What the catalog in a dataset row knows about each of its shards. */
export interface ShardMeta {
  category: string;
  index: number;
  firstIndex: number;
  drawingCount: number;
  sha256: string;
  sizeBytes: number;
}

export interface ShardRecord extends ShardMeta {
  datasetId: string;
  /**
   * Raw: drawingCount × 784 bytes. Zero-run coded (`bitmapEncoding`): the stream a v2 shard carries, decoded
   * when read. Either way its own buffer, or one at most 4 kB larger (never a view into a bigger download).
   */
  bitmaps: Uint8Array;
  /** Absent on raw records, which is every record written before downloads kept the coding. */
  bitmapEncoding?: 'zero-runs';
  strokes: Strokes[] | null;
}

/** Bitmaps still zero-run coded, as a downloaded v2 shard carries them (see zero-runs.ts). */
export interface ZeroRunBitmaps {
  zeroRuns: Uint8Array;
  drawingCount: number;
}

export interface DatasetInfo {
  datasetId: string;
  label: string;
  /** Manifest URL for downloads, 'local' for imports and own drawings. */
  source: string;
  manifestSha256?: string;
}

export interface DatasetRecord extends DatasetInfo {
  updatedAt: number;
  shards: ShardMeta[];
}

export interface DoodleLabSchema extends DBSchema {
  shards: { key: string; value: ShardRecord; indexes: { byCategory: [string, string] } };
  datasets: { key: string; value: DatasetRecord };
  runs: { key: string; value: RunRecord };
  checkpoints: { key: string; value: CheckpointRecord };
  models: { key: string; value: StoredModel };
}

export type Db = IDBPDatabase<DoodleLabSchema>;

export const shardKey = (datasetId: string, category: string, index: number): string => `${datasetId}/${category}/${index}`;

/**
 * One migration a version: a browser that has version n runs every step above n. Later stores (training
 * runs, checkpoints) go in as version 2, 3… without touching the steps before.
 */
const MIGRATIONS: ((db: Db) => void)[] = [
  (db) => {
    db.createObjectStore('shards').createIndex('byCategory', ['datasetId', 'category']);
    db.createObjectStore('datasets', { keyPath: 'datasetId' });
  },
  (db) => {
    db.createObjectStore('runs', { keyPath: 'runId' });
    db.createObjectStore('checkpoints', { keyPath: 'runId' });
  },
  (db) => {
    db.createObjectStore('models', { keyPath: 'modelId' });
  },
];

/** Opens (and upgrades) the app's database; `onClosed` runs when another tab needs it closed. */
export async function openDatabase(name = DB_NAME, onClosed?: () => void): Promise<Db> {
  let opened: Db | undefined;
  try {
    opened = await openDB<DoodleLabSchema>(name, DB_VERSION, {
      upgrade(database, oldVersion) {
        for (let version = oldVersion; version < MIGRATIONS.length; version++) MIGRATIONS[version]?.(database);
      },
      blocking() {
        // Another tab wants a newer schema (or to delete the database): step aside so it is not stuck behind us.
        opened?.close();
        onClosed?.();
      },
      terminated() {
        // The browser closed the connection itself (Chromium does when it wipes a database after a disk filled
        // to the last byte): let the owner open a new one rather than keep failing on this one.
        onClosed?.();
      },
    });
  } catch (error) {
    // A full disk keeps its own message (what to free).
    if (isQuotaError(error)) throw error;
    throw unopenedError(error instanceof Error ? error : { name: 'Error', message: String(error) });
  }
  return opened;
}

/**
 * A store's database connection, opened on first use and shared by its calls. It is opened anew on next use after
 * the browser or another tab closed it (openDatabase's `onClosed`) and after an open that failed (storage switched
 * off, a newer version of the app in another tab): a failure reaches the call that met it, not every later one.
 */
export class Connection<T extends { close(): void }> {
  private opening: Promise<T> | null = null;
  private opened: T | null = null;
  private closed = false;

  constructor(private readonly open: (onClosed: () => void) => Promise<T>) {}

  get(): Promise<T> {
    if (this.closed) return Promise.reject(new DOMException('This store was closed.', 'InvalidStateError'));
    if (this.opening === null) {
      const opening: Promise<T> = this.open(() => this.forget(opening));
      this.opening = opening;
      opening.then((connection) => {
        if (this.opening === opening) this.opened = connection;
      }, () => this.forget(opening));
    }
    return this.opening;
  }

  /**
   * Runs `action` on the connection, once more on a new one if it was found closed (InvalidStateError: Chromium
   * closes a connection when it wipes a database after the disk filled, and the close event can arrive after the
   * call that finds it closed). `action` must be safe to run again after that error, which a transaction that could
   * not start is.
   */
  async use<R>(action: (opened: T) => Promise<R>): Promise<R> {
    const opening = this.get();
    try {
      return await action(await opening);
    } catch (error) {
      if (!(error instanceof DOMException && error.name === 'InvalidStateError') || this.closed) throw error;
      // Closed already, as a rule; if not, it must not stay open beside the new one (it would hold up upgrades).
      void opening.then((connection) => connection.close(), () => undefined);
      this.forget(opening);
      return action(await this.get());
    }
  }

  /** Closes the connection for good (tests, before deleting the database). */
  close(): void {
    this.closed = true;
    this.opened?.close();
    void this.opening?.then((connection) => connection.close(), () => undefined);
    this.opening = null;
    this.opened = null;
  }

  private forget(opening: Promise<T>): void {
    // A late close event of an old connection must not drop the new one.
    if (this.opening !== opening) return;
    this.opening = null;
    this.opened = null;
  }
}
