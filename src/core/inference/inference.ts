// A trained run as one inference model (image → class probabilities), rebuilt from its config and latest
// checkpoint, and classification of a 28×28 bitmap into ranked guesses. Runs in workers; the caller owns the
// returned LoadedModel and must dispose it.
import * as tf from '@tensorflow/tfjs';
import { averageViews, testTimeViews, type TestTimeAugmentation } from '../training/augment.ts';
import type { EngineClassifier } from '../engine/classifier.ts';
import { topK } from './metrics.ts';
import { BITMAP_SIDE_PX } from '../data/render.ts';
import { preprocess } from '../training/mobilenet.ts';
import type { CheckpointRecord, RunRecord } from '../training/run-protocol.ts';
import { RunModel } from '../training/run-model.ts';

/** What classification needs of a model, whether trained here or imported. */
export interface Classifier {
  model: tf.LayersModel;
  labels: string[];
  inputSizePx: number;
  /** Feed drawings as dark ink on white (photo-trained models) instead of Quick, Draw!'s white on black. */
  inkOnWhite: boolean;
  /** Set where the engine guesses for this model (inference worker, real GPU); else tfjs does. */
  engine?: EngineClassifier | null;
  /** 'flip': a guess averages the drawing's probabilities with its mirror image's, as the run was scored. */
  testTimeAugmentation?: TestTimeAugmentation;
  dispose(): void;
}

export interface LoadedModel extends Classifier {
  /** The run's network and weights (what export writes out); `model` is its `inference`. */
  runModel: RunModel;
}

export interface Guess {
  label: string;
  probability: number;
}

export async function loadRunModel(run: RunRecord, checkpoint: Pick<CheckpointRecord, 'weights'>, handler: tf.io.IOHandler): Promise<LoadedModel> {
  const model = await RunModel.load(run.config, handler, run.labels.length, checkpoint.weights);
  return {
    model: model.inference, runModel: model, labels: run.labels, inputSizePx: run.config.inputSizePx, inkOnWhite: false, testTimeAugmentation: run.config.testTimeAugmentation,
    dispose: () => model.dispose(),
  };
}

/**
 * A stored run's model at its latest checkpoint, and its record: what the Play page, Export and the export's accuracy
 * check load. `prepare` runs once the record is read and before the weights load (the trainer picks the run's backend).
 */
export async function loadStoredRun(
  runs: { getRun(runId: string): Promise<RunRecord | undefined>; getCheckpoint(runId: string): Promise<CheckpointRecord | undefined> },
  runId: string,
  handlerFor: (url: string) => tf.io.IOHandler,
  prepare: (run: RunRecord) => Promise<void> = async () => {},
): Promise<{ run: RunRecord; model: LoadedModel }> {
  const [run, checkpoint] = await Promise.all([runs.getRun(runId), runs.getCheckpoint(runId)]);
  if (run === undefined || checkpoint === undefined) throw new Error('This run has no saved weights yet: it needs at least one finished epoch.');
  await prepare(run);
  return { run, model: await loadRunModel(run, checkpoint, handlerFor(run.config.model.url)) };
}

/** The `k` most likely labels for one 28×28 bitmap, most likely first. */
export async function classifyBitmap(loaded: Classifier, bitmap: Uint8Array, k = 5): Promise<Guess[]> {
  const input = loaded.inkOnWhite ? bitmap.map((v) => 255 - v) : bitmap;
  const views: Float32Array[] = [];
  for (const view of testTimeViews(input, BITMAP_SIDE_PX, loaded.testTimeAugmentation)) {
    if (loaded.engine) {
      views.push(await loaded.engine.predict(view));
    } else {
      const output = tf.tidy(() => loaded.model.predict(preprocess(view, BITMAP_SIDE_PX, loaded.inputSizePx)) as tf.Tensor);
      views.push(await output.data() as Float32Array);
      output.dispose();
    }
  }
  const probabilities = averageViews(views);
  return topK(probabilities, Math.min(k, loaded.labels.length)).map((i) => ({ label: loaded.labels[i]!, probability: probabilities[i]! }));
}
