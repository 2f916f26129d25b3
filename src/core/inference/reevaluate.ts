// Evaluates a finished run again with its saved weights on its test split as the drawings are stored now —
// for runs evaluated before the gallery of mistakes existed and runs whose dataset grew — and stores the new
// evaluation on the run record; a run imported from a cluster (no checkpoint) is scored with the model it was
// imported with. Runs in the trainer worker; every tensor is freed before it returns.
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../training/backend.ts';
import { messageOf } from '../errors.ts';
import type { EvaluationResult } from './metrics.ts';
import { evaluateWithMistakes } from './mistakes.ts';
import { predictProbabilities } from '../training/mobilenet.ts';
import { loadChecked } from '../exchange/model-import.ts';
import type { CheckpointRecord, EvaluateProgress, ImportedRun, RunRecord } from '../training/run-protocol.ts';
import type { RunStore } from '../training/runs.ts';
import type { DrawingStore } from '../data/store.ts';
import type { TrainConfig } from '../training/train-config.ts';
import { loadTrainingData } from '../training/training-data.ts';
import { INFERENCE_BATCH, RunModel } from '../training/run-model.ts';
import type { TrainingData } from '../training/training.ts';

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
  if (checkpoint === undefined && run.imported === undefined) throw new Error('This run has no saved weights to evaluate.');
  const { config } = run;
  deps.onProgress({ kind: 'phase', phase: 'loading', detail: `Reading the test drawings and ${run.imported === undefined ? config.model.label : 'the imported model'}` });
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
  const test = run.imported === undefined
    ? await evaluateCheckpoint(run, checkpoint!, data, deps)
    : await evaluateImported(run.imported, config, data, deps);
  // An imported run's training and validation counts are learned here: the cluster's files do not carry them.
  const counts = run.imported === undefined ? { ...run.counts, test: testCount } : { train: data.train.labels.length, validation: data.validation.labels.length, test: testCount };
  const updated: RunRecord = { ...run, test, counts, evaluatedAgain: { at: Date.now(), datasetHash } };
  await deps.runs.putRun(updated);
  return updated;
}

/** The run's checkpoint on its test split: its network and weights alone, scored with its test-time augmentation. */
async function evaluateCheckpoint(run: RunRecord, checkpoint: CheckpointRecord, data: TrainingData, deps: EvaluateDeps): Promise<EvaluationResult> {
  const { config } = run;
  const model = await RunModel.load(config, deps.modelHandler(config.model.url), data.classNames.length, checkpoint.weights);
  try {
    deps.onProgress({ kind: 'phase', phase: 'evaluating', detail: `Test split: ${data.test.labels.length} drawings` });
    return scoreTest(await model.predict(data.test.bitmaps, data.imageSizePx), data);
  } finally {
    model.dispose();
  }
}

/** The imported model's scores on the test split as stored here. */
async function evaluateImported(imported: ImportedRun, { inputSizePx, testTimeAugmentation }: TrainConfig, data: TrainingData, deps: EvaluateDeps): Promise<EvaluationResult> {
  deps.onProgress({ kind: 'phase', phase: 'evaluating', detail: `Test split: ${data.test.labels.length} drawings` });
  const stored = await deps.runs.getModel(imported.modelId);
  if (stored === undefined) throw new Error('The imported model this run came from is no longer stored: import its files again on the Play page.');
  if (stored.info.labels.join('\n') !== data.classNames.join('\n')) {
    throw new Error(`The imported model's classes (${stored.info.labels.join(', ')}) are not the run's (${data.classNames.join(', ')}).`);
  }
  const model = await loadChecked(stored);
  try {
    return scoreTest(await predictProbabilities(model, data.test.bitmaps, { imageSizePx: data.imageSizePx, inputSizePx, batch: INFERENCE_BATCH }, testTimeAugmentation), data);
  } finally {
    model.dispose();
  }
}

function scoreTest(probabilities: Float32Array, { test, classNames, imageSizePx }: TrainingData): EvaluationResult {
  return evaluateWithMistakes(probabilities, test.labels, classNames, test.bitmaps, imageSizePx ** 2);
}
