// The IndexedDB repository of training runs, their checkpoints (the latest one per run, which after the
// last epoch holds the final weights) and imported models. Runs in the trainer worker and in browser tests; pure TS on `idb`.
import { isQuotaError, quotaError } from '../errors.ts';
import type { StoredModel } from '../exchange/model-import.ts';
import type { CheckpointRecord, RunRecord } from './run-protocol.ts';
import { openDatabase, type Db } from '../data/database.ts';

export class RunStore {
  private constructor(private readonly db: Db) {}

  static async open(name?: string, onClosed?: () => void): Promise<RunStore> {
    return new RunStore(await openDatabase(name, onClosed));
  }

  close(): void {
    this.db.close();
  }

  async putRun(run: RunRecord): Promise<void> {
    await guard('the run record', () => this.db.put('runs', { ...run, updatedAt: Date.now() }));
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.db.get('runs', runId);
  }

  /** Newest first. */
  async listRuns(): Promise<RunRecord[]> {
    return (await this.db.getAll('runs')).sort((a, b) => b.createdAt - a.createdAt);
  }

  async putCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    await guard('the checkpoint', () => this.db.put('checkpoints', checkpoint));
  }

  async getCheckpoint(runId: string): Promise<CheckpointRecord | undefined> {
    return this.db.get('checkpoints', runId);
  }

  async putModel(model: StoredModel): Promise<void> {
    await guard('the imported model', () => this.db.add('models', model));
  }

  async getModel(modelId: string): Promise<StoredModel | undefined> {
    return this.db.get('models', modelId);
  }

  /** Imported models without their weights, newest first. */
  async listModels(): Promise<Pick<StoredModel, 'modelId' | 'info' | 'importedAt'>[]> {
    const all = await this.db.getAll('models');
    return all.map(({ modelId, info, importedAt }) => ({ modelId, info, importedAt })).sort((a, b) => b.importedAt - a.importedAt);
  }

  async deleteModel(modelId: string): Promise<void> {
    await this.db.delete('models', modelId);
  }

  async deleteRun(runId: string): Promise<void> {
    const tx = this.db.transaction(['runs', 'checkpoints'], 'readwrite');
    await Promise.all([tx.objectStore('runs').delete(runId), tx.objectStore('checkpoints').delete(runId), tx.done]);
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
