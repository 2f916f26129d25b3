// The IndexedDB repository of training runs, their checkpoints (the latest one per run, which after the
// last epoch holds the final weights) and imported models. Runs in the trainer worker and in browser tests; pure TS on `idb`.
import { isQuotaError, quotaError } from '../errors.ts';
import type { StoredModel } from '../exchange/model-import.ts';
import type { CheckpointRecord, RunRecord } from './run-protocol.ts';
import { Connection, openDatabase, type Db } from '../data/database.ts';

export class RunStore {
  private constructor(private readonly connection: Connection<Db>) {}

  /** A store whose database opens on first use, and again after the browser or another tab closed it (a training
   * run then goes on writing its checkpoints on the new connection). */
  static connect(name?: string): RunStore {
    return new RunStore(new Connection((onClosed) => openDatabase(name, onClosed)));
  }

  /** Like `connect`, but opens the database now, so a failure to open shows here. */
  static async open(name?: string): Promise<RunStore> {
    const store = RunStore.connect(name);
    await store.connection.get();
    return store;
  }

  close(): void {
    this.connection.close();
  }

  private db<R>(action: (db: Db) => Promise<R>): Promise<R> {
    return this.connection.use(action);
  }

  async putRun(run: RunRecord): Promise<void> {
    await guard('the run record', () => this.db((db) => db.put('runs', { ...run, updatedAt: Date.now() })));
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.db((db) => db.get('runs', runId));
  }

  /** Newest first. */
  async listRuns(): Promise<RunRecord[]> {
    return (await this.db((db) => db.getAll('runs'))).sort((a, b) => b.createdAt - a.createdAt);
  }

  async putCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    await guard('the checkpoint', () => this.db((db) => db.put('checkpoints', checkpoint)));
  }

  async getCheckpoint(runId: string): Promise<CheckpointRecord | undefined> {
    return this.db((db) => db.get('checkpoints', runId));
  }

  async putModel(model: StoredModel): Promise<void> {
    await guard('the imported model', () => this.db((db) => db.add('models', model)));
  }

  async getModel(modelId: string): Promise<StoredModel | undefined> {
    return this.db((db) => db.get('models', modelId));
  }

  /** Imported models without their weights, newest first. */
  async listModels(): Promise<Pick<StoredModel, 'modelId' | 'info' | 'importedAt'>[]> {
    const all = await this.db((db) => db.getAll('models'));
    return all.map(({ modelId, info, importedAt }) => ({ modelId, info, importedAt })).sort((a, b) => b.importedAt - a.importedAt);
  }

  async deleteModel(modelId: string): Promise<void> {
    await this.db((db) => db.delete('models', modelId));
  }

  async deleteRun(runId: string): Promise<void> {
    await this.db(async (db) => {
      const tx = db.transaction(['runs', 'checkpoints'], 'readwrite');
      await Promise.all([tx.objectStore('runs').delete(runId), tx.objectStore('checkpoints').delete(runId), tx.done]);
    });
  }
}

async function guard(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (isQuotaError(error)) throw quotaError(what);
    throw error;
  }
}
