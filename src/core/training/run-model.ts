// A run's network as an object of its own: the pretrained backbone cut where the run's config says, the run's head
// on top, and the run's weights. The Trainer trains one; the Play page, export and evaluating a run again load one
// from a checkpoint, with none of the Trainer's splits, feature cache, optimizer or engine. On tfjs, the reference
// path (the engine trains and guesses from these same weights). Every variable it holds is freed by `dispose`.
import * as tf from '@tensorflow/tfjs';
import { inferenceModel, loadBackbone, predictProbabilities, splitBackbone, type Backbone, type SplitModel } from './mobilenet.ts';
import type { StoredTensor } from './run-protocol.ts';
import { trainableBlocksOf, type TrainConfig } from './train-config.ts';

/** Batches for feature caching and evaluation; large batches amortise per-op cost on emulated GPUs. */
export const INFERENCE_BATCH = 256;

export class RunModel {
  readonly split: SplitModel;
  private composed: tf.LayersModel | null = null;

  constructor(readonly config: TrainConfig, readonly backbone: Backbone, readonly classCount: number) {
    const blocks = trainableBlocksOf(config, backbone.blockEnds.length);
    this.split = splitBackbone(backbone, blocks, { numClasses: classCount, dropoutRate: config.dropoutRate, seed: config.seed });
  }

  /** The run's network from the pretrained files behind `handler`, with `weights` (a checkpoint's) where given. */
  static async load(config: TrainConfig, handler: tf.io.IOHandler, classCount: number, weights?: readonly StoredTensor[]): Promise<RunModel> {
    const model = new RunModel(config, await loadBackbone(handler, config.inputSizePx), classCount);
    try {
      if (weights !== undefined) model.setWeights(weights);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  /** Image in, class probabilities out, in one model (the frozen part feeding the trainable one): what is exported and guessed with. */
  get inference(): tf.LayersModel {
    // It only re-wires the split's layers: no variables of its own.
    this.composed ??= inferenceModel(this.backbone, this.split);
    return this.composed;
  }

  /** The trainable part's weights (frozen ones are the backbone's), as checkpoints store them. */
  async readWeights(): Promise<StoredTensor[]> {
    return Promise.all(this.split.trainable.weights.map(async (w) => ({
      name: w.originalName, shape: w.shape as number[], data: copyOut(await w.read().data()),
    })));
  }

  /** Sets the trainable part's weights from `readWeights`'s output on a model of the same config. */
  setWeights(weights: readonly StoredTensor[]): void {
    const variables = this.split.trainable.weights;
    if (weights.length !== variables.length) throw new Error(`The checkpoint has ${weights.length} weights; this model has ${variables.length}.`);
    const tensors = weights.map((w, i) => {
      if (w.name !== variables[i]!.originalName) throw new Error(`Checkpoint weight ${w.name} does not match ${variables[i]!.originalName}.`);
      return tf.tensor(new Float32Array(w.data), w.shape);
    });
    this.split.trainable.setWeights(tensors);
    tf.dispose(tensors);
  }

  /** Class probabilities for `bitmaps` (imageSizePx² each), under the run's test-time augmentation. */
  predict(bitmaps: Uint8Array, imageSizePx: number): Promise<Float32Array> {
    return predictProbabilities(this.inference, bitmaps, { imageSizePx, inputSizePx: this.config.inputSizePx, batch: INFERENCE_BATCH }, this.config.testTimeAugmentation);
  }

  /** Frees the backbone's and the head's variables; the backbone is unusable after. */
  dispose(): void {
    // The split models share layers with the backbone, and tfjs's per-layer reference counts would free the
    // frozen layers twice; disposing each distinct variable once is exact.
    const variables = new Set([...this.backbone.features.weights, ...this.split.trainable.weights]);
    for (const variable of variables) variable.dispose();
  }
}

/** A tensor's values as the ArrayBuffer a StoredTensor keeps (a copy, f32). */
export function copyOut(values: ArrayLike<number>): ArrayBuffer {
  return Float32Array.from(values).buffer;
}
