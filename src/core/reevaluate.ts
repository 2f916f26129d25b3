// Evaluates a finished run again with its saved weights on its test split as the drawings are stored now —
// for runs evaluated before the gallery of mistakes existed and runs whose dataset grew — and stores the new
// evaluation on the run record. Runs in the trainer worker; every tensor is freed before it returns.
import type * as tf from '@tensorflow/tfjs';
import { chooseBackend } from './backend.ts';
import { messageOf } from './errors.ts';
import { loadBackbone } from './mobilenet.ts';
import type { EvaluateProgress, RunRecord } from './run-protocol.ts';
import type { RunStore } from './runs.ts';
import type { DrawingStore } from './store.ts';
import { loadTrainingData } from './training-data.ts';
import { Trainer } from './training.ts';

export interface EvaluateDeps {
  drawings: DrawingStore;
  runs: RunStore;
  /** Where the pretrained model's files come from (tf.io.http in the worker). */
  modelHandler(url: string): tf.io.IOHandler;
  onProgress(progress: EvaluateProgress): void;
}

/** Throws an Error whose message says what to do when the run, its weights or its drawings are missing. */
export async function reevaluateRun(runId: string, deps: EvaluateDeps): Promise<RunRecord> {
  const [run, checkpoint] = await Promise.all([deps.runs.getRun(runId), deps.runs.getCheckpoint(runId)]);
  if (run === undefined) throw new Error('This run is no longer stored.');
  if (run.status !== 'done') throw new Error('Only a finished run can be evaluated again: resume it or start a new one.');
  if (checkpoint === undefined) throw new Error('This run has no saved weights to evaluate.');
  const { config } = run;
  deps.onProgress({ kind: 'phase', phase: 'loading', detail: `Reading the test drawings and ${config.model.label}` });
  let loaded: Awaited<ReturnType<typeof loadTrainingData>>;
  try {
    loaded = await loadTrainingData(deps.drawings, config);
  } catch (error) {
    throw new Error(`Cannot evaluate again: ${messageOf(error)}`);
  }
  const { data, datasetHash } = loaded;
  const testCount = data.test.labels.length;
  if (testCount === 0) throw new Error('Cannot evaluate again: the stored drawings leave no test split for this run.');
  await chooseBackend(config.backend);
  // Only the test split is needed: empty training and validation splits keep the frozen-feature cache small,
  // while evaluation takes the same path (cache, then trainable part) as at the end of training.
  const none = { bitmaps: new Uint8Array(0), labels: new Int32Array(0) };
  const trainer = new Trainer(config, await loadBackbone(deps.modelHandler(config.model.url), config.inputSizePx), { ...data, train: none, validation: none });
  try {
    await trainer.loadWeights({ weights: checkpoint.weights, optimizer: [] });
    if (trainer.usesCache) {
      await trainer.cacheFeatures((done, total) => deps.onProgress({ kind: 'phase', phase: 'caching', detail: `Frozen features: ${done} / ${total}` }));
    }
    deps.onProgress({ kind: 'phase', phase: 'evaluating', detail: `Test split: ${testCount} drawings` });
    const test = await trainer.evaluateSplit('test');
    const updated: RunRecord = { ...run, test, counts: { ...run.counts, test: testCount }, evaluatedAgain: { at: Date.now(), datasetHash } };
    await deps.runs.putRun(updated);
    return updated;
  } finally {
    trainer.dispose();
  }
}
