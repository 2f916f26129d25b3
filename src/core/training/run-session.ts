// One training run from start (or from its last checkpoint) to the end: picks the backend, reads the drawings,
// builds the model, caches frozen features, trains, evaluates on the test split, and keeps the run record and
// checkpoint in IndexedDB up to date. A failing GPU backend falls back to the next one from the checkpoint.
// Runs in the trainer worker.
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from './backend.ts';
import type { CpuEngine } from '../engine/wasm/threads.ts';
import { dataErrorCodeOf, isQuotaError, messageOf } from '../errors.ts';
import { loadBackbone } from './mobilenet.ts';
import { newId } from './random.ts';
import type { BackendName, RunRecord, TrainProgress } from './run-protocol.ts';
import type { RunStore } from './runs.ts';
import type { DrawingStore } from '../data/store.ts';
import type { TrainConfig } from './train-config.ts';
import { loadTrainingData } from './training-data.ts';
import { Trainer, type Checkpoint } from './training.ts';

export interface RunDeps {
  drawings: DrawingStore;
  runs: RunStore;
  /** Where the pretrained model's files come from (tf.io.http in the worker, a folder in Node tests). */
  modelHandler(url: string): tf.io.IOHandler;
  onProgress(progress: TrainProgress): void;
  /** Awaited between batches: 'stop' ends the run as cancelled. */
  betweenBatches(): Promise<'go' | 'stop'>;
  checkpointEverySec: number;
  /** The engine's compiled WebAssembly (and its threads, where they run), for runs on tfjs's WASM or CPU backend
   * (the worker fetches it once). */
  cpuEngine?(): Promise<CpuEngine>;
}

export function newRun(config: TrainConfig): RunRecord {
  const now = Date.now();
  return {
    runId: newId('run'),
    config, status: 'running', createdAt: now, updatedAt: now, datasetHash: '', labels: [...config.dataset.categories],
    counts: { train: 0, validation: 0, test: 0 }, backend: null, epochs: [], timings: { loadSec: 0, cacheSec: 0, trainSec: 0, evaluateSec: 0 }, test: null, error: null,
  };
}

/** Trains `run` (new, or resumed from its checkpoint) and returns its final record. Never throws: failures are recorded. */
export async function executeRun(run: RunRecord, deps: RunDeps): Promise<RunRecord> {
  const { config } = run;
  // Record writes go one after another. A failed one stays in `saves` for whoever waits next (the next checkpoint,
  // the end of the run), so the run fails with the write's message instead of going on with its epochs unstored.
  let saves = Promise.resolve();
  const save = (): Promise<void> => (saves = saves.then(() => deps.runs.putRun(run)));
  const failed: BackendName[] = [];
  let trainer: Trainer | null = null;
  const cancelled = async (): Promise<RunRecord> => {
    run.status = 'cancelled';
    await save();
    deps.onProgress({ kind: 'cancelled', run });
    return run;
  };
  try {
    run.status = 'running';
    run.error = null;
    await save();
    for (;;) {
      run.backend = await chooseBackend(config.backend, failed);
      deps.onProgress({ kind: 'backend', backend: run.backend });
      let started = performance.now();
      deps.onProgress({ kind: 'phase', phase: 'loading', detail: `Reading drawings and ${config.model.label}` });
      const { data, datasetHash, testOverlap } = await loadTrainingData(deps.drawings, config);
      if (testOverlap > 0) deps.onProgress({ kind: 'phase', phase: 'loading', detail: `${testOverlap} drawings of the test dataset left out: the training dataset has the same bitmaps` });
      const checkpoint: Checkpoint | undefined = await deps.runs.getCheckpoint(run.runId);
      deps.onProgress({ kind: 'started', runId: run.runId, resumedFrom: checkpoint === undefined ? null : { epoch: checkpoint.epoch, batch: checkpoint.batch } });
      if (checkpoint !== undefined && run.datasetHash !== '' && run.datasetHash !== datasetHash) {
        throw new Error('The stored drawings changed since this run started, so it cannot resume: start a new run.');
      }
      run.datasetHash = datasetHash;
      run.counts = { train: data.train.labels.length, validation: data.validation.labels.length, test: data.test.labels.length };
      // A run record can be ahead of its checkpoint when the tab closed between the two writes.
      run.epochs = run.epochs.slice(0, checkpoint?.epoch ?? 0);
      trainer = new Trainer(config, await loadBackbone(deps.modelHandler(config.model.url), config.inputSizePx), data);
      if (checkpoint !== undefined) await trainer.loadWeights(checkpoint);
      run.timings.loadSec += (performance.now() - started) / 1000;
      await save();
      try {
        started = performance.now();
        if (trainer.usesCache) {
          const total = data.train.labels.length + data.validation.labels.length + data.test.labels.length;
          deps.onProgress({ kind: 'phase', phase: 'caching', detail: `Running the frozen layers once over ${total} drawings (augmentation does not apply to cached features)` });
          deps.onProgress({ kind: 'caching', done: 0, total, etaSec: null });
          // Time spent paused between batches does not count toward the rate the time left is estimated from.
          let waitedMs = 0;
          const betweenBatches = async (): Promise<'go' | 'stop'> => {
            const waitStarted = performance.now();
            const next = await deps.betweenBatches();
            waitedMs += performance.now() - waitStarted;
            return next;
          };
          const cachingStarted = performance.now();
          const cached = await trainer.cacheFeatures((done) => {
            const perDrawingSec = (performance.now() - cachingStarted - waitedMs) / 1000 / done;
            deps.onProgress({ kind: 'caching', done, total, etaSec: (total - done) * perDrawingSec });
          }, betweenBatches);
          if (cached === 'stopped') {
            run.timings.cacheSec += (performance.now() - started) / 1000;
            return await cancelled();
          }
        }
        run.timings.cacheSec += (performance.now() - started) / 1000;
        started = performance.now();
        const onCpu = run.backend.name === 'wasm' || run.backend.name === 'cpu';
        const path = config.engine === 'tfjs' ? 'tfjs (the config asks for it)' : await trainer.useEngine(checkpoint, onCpu ? await deps.cpuEngine?.() : undefined);
        run.backend = { ...run.backend, engine: trainer.onEngine, ...(trainer.engineThreads > 1 ? { threads: trainer.engineThreads } : {}) };
        deps.onProgress({ kind: 'phase', phase: 'training', detail: `${config.epochs} epochs of ${data.train.labels.length} drawings, on ${path}` });
        const outcome = await trainer.train({
          onProgress: (progress) => {
            if (progress.kind === 'epoch') {
              run.epochs.push(progress.metrics);
              // Handled here only so the browser does not report it: the next checkpoint waits for it and fails.
              save().catch(() => undefined);
            }
            deps.onProgress(progress);
          },
          // The record with this epoch's metrics lands before the checkpoint that counts the epoch done, so a tab
          // closed in between leaves the record ahead (trimmed on resume), never behind (an epoch's metrics lost).
          saveCheckpoint: async (c) => {
            await saves;
            await deps.runs.putCheckpoint({ ...c, runId: run.runId, savedAt: Date.now() });
          },
          betweenBatches: deps.betweenBatches,
          checkpointEverySec: deps.checkpointEverySec,
        }, checkpoint);
        run.timings.trainSec += (performance.now() - started) / 1000;
        if (outcome === 'stopped') return await cancelled();
        if (data.test.labels.length > 0) {
          deps.onProgress({ kind: 'phase', phase: 'evaluating', detail: `Test split: ${data.test.labels.length} drawings` });
          started = performance.now();
          run.test = await trainer.evaluateSplit('test');
          run.timings.evaluateSec = (performance.now() - started) / 1000;
        }
        run.status = 'done';
        await save();
        deps.onProgress({ kind: 'done', run });
        return run;
      } catch (error) {
        // A lost WebGPU device or a WebGL context loss surfaces as an error from a kernel: go on from the last
        // checkpoint on the next backend instead of losing the run. A storage error (a full disk writing a
        // checkpoint, a damaged shard) is not the backend's: another backend would only fail at the same write.
        if (run.backend.name === 'cpu' || dataErrorCodeOf(error) !== null || isQuotaError(error)) throw error;
        failed.push(run.backend.name);
        deps.onProgress({ kind: 'phase', phase: 'loading', detail: `${run.backend.name} failed (${messageOf(error)}); continuing from the last checkpoint on another backend` });
        trainer.dispose();
        trainer = null;
      }
    }
  } catch (error) {
    run.status = 'failed';
    run.error = messageOf(error);
    // One more try to store the failure, even after a record write failed (its chain holds that error).
    await saves.catch(() => undefined);
    await deps.runs.putRun(run).catch(() => undefined);
    deps.onProgress({ kind: 'error', message: run.error });
    return run;
  } finally {
    trainer?.dispose();
  }
}
