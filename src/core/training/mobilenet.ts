// Builds a trainable sketch classifier from a pretrained MobileNet LayersModel: rebuilt at the chosen input
// size, split at a block boundary into a frozen part (only ever run in inference) and a trainable part with a
// new softmax head. Runs wherever tfjs runs (trainer worker, Node tests); the caller owns the returned models.
import * as tf from '@tensorflow/tfjs';
import { averageViews, testTimeViews, type TestTimeAugmentation } from './augment.ts';

export type FineTuneMode = 'head' | 'last-blocks' | 'whole';

export interface Backbone {
  /** The pretrained network up to its last convolutional feature map, at `inputSizePx`. */
  features: tf.LayersModel;
  inputSizePx: number;
  /** Names of the layers that end a block, in order; cutting after one keeps the rest trainable. */
  blockEnds: string[];
}

export interface SplitModel {
  /** Layers before the cut, used only through `predict` so BatchNormalization stays in inference mode. */
  frozen: tf.LayersModel | null;
  /** Blocks after the cut plus the new head; the only model that is ever trained. */
  trainable: tf.LayersModel;
  /** Name of the layer the frozen part ends at ('input' when nothing is frozen). */
  cutLayer: string;
}

export interface HeadOptions {
  numClasses: number;
  dropoutRate: number;
  seed: number;
}

export const FINE_TUNE_BN_MOMENTUM = 0.9;

const BLOCK_END = /^(conv_pw_\d+_relu|block_\d+_add|block_\d+_project_BN|out_relu|Conv_1_relu)$/;

/** Loads model artifacts through `handler`, rewrites the input size, and keeps the network up to its last 4-D
 * feature map (the layer before global pooling). Every weight in the file must land in a layer. */
export async function loadBackbone(handler: tf.io.IOHandler, inputSizePx: number): Promise<Backbone> {
  if (handler.load === undefined) throw new Error('The model handler cannot load.');
  const artifacts = await handler.load();
  const topology = resizeTopology(artifacts.modelTopology, inputSizePx);
  const full = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: topology }));
  // The feature map is what the first global pooling (or flatten) reads; a no-top backbone ends with it.
  const pool = full.layers.find((layer) => /GlobalAveragePooling2D|GlobalMaxPooling2D|Flatten/.test(layer.getClassName()));
  const last = pool === undefined ? full.layers.filter((layer) => outputRank(layer) === 4).at(-1) : inboundOf(pool)[0];
  if (last === undefined || outputRank(last) !== 4) throw new Error('This model has no convolutional feature map; it is not a MobileNet.');
  const features = tf.model({ inputs: full.inputs, outputs: last.output as tf.SymbolicTensor, name: 'backbone' });
  disposeUnused(full, features);
  const blockEnds = features.layers.filter((layer) => BLOCK_END.test(layer.name) && isArticulation(features, layer)).map((l) => l.name);
  return { features, inputSizePx, blockEnds };
}

/** Frees the weights of the pretrained top (the ImageNet classifier), which `features` does not use. */
function disposeUnused(full: tf.LayersModel, features: tf.LayersModel): void {
  const kept = new Set(features.layers);
  for (const layer of full.layers) if (!kept.has(layer)) layer.dispose();
}

function outputRank(layer: tf.layers.Layer): number {
  const shape = layer.outputShape;
  // A layer with several outputs reports a list of shapes; MobileNet layers have one.
  return Array.isArray(shape[0]) ? -1 : shape.length;
}

/** Sets the InputLayer's batch_input_shape to [null, size, size, 3] in a Keras functional topology. */
function resizeTopology(topology: tf.io.ModelArtifacts['modelTopology'], inputSizePx: number): object {
  if (topology === undefined || topology instanceof ArrayBuffer) throw new Error('The model file has no Keras topology (is it a graph model?).');
  const copy = structuredClone(topology) as { model_config?: KerasModelConfig } & KerasModelConfig;
  const config = copy.model_config ?? copy;
  if (config.class_name !== 'Model' && config.class_name !== 'Functional') throw new Error(`Expected a functional Keras model, got ${config.class_name}.`);
  const input = config.config.layers.find((layer) => layer.class_name === 'InputLayer');
  if (input === undefined) throw new Error('The model has no input layer.');
  input.config.batch_input_shape = [null, inputSizePx, inputSizePx, 3];
  return copy;
}

interface KerasModelConfig {
  class_name: string;
  config: { layers: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[] };
}

/** True when nothing after `layer` reads from a layer before it, so the graph can be cut right after it. */
function isArticulation(model: tf.LayersModel, layer: tf.layers.Layer): boolean {
  const index = model.layers.indexOf(layer);
  const before = new Set(model.layers.slice(0, index).map((l) => l.name));
  return model.layers.slice(index + 1).every((later) => inboundOf(later).every((inbound) => !before.has(inbound.name)));
}

function inboundOf(layer: tf.layers.Layer): tf.layers.Layer[] {
  // The first inbound node is the call made when the pretrained graph was built.
  return layer.inboundNodes[0]?.inboundLayers ?? [];
}

/** Splits `backbone` so that the last `trainableBlocks` blocks are trained (0 = head only; all = whole). */
export function splitBackbone(backbone: Backbone, trainableBlocks: number, head: HeadOptions): SplitModel {
  const { features, blockEnds } = backbone;
  const blocks = Math.max(0, Math.min(trainableBlocks, blockEnds.length));
  const cutName = blocks >= blockEnds.length ? null : blockEnds[blockEnds.length - 1 - blocks];
  const cut = cutName === undefined || cutName === null ? null : features.getLayer(cutName);
  const frozen = cut === null ? null : tf.model({ inputs: features.inputs, outputs: cut.output as tf.SymbolicTensor, name: 'frozen' });
  const startIndex = cut === null ? 1 : features.layers.indexOf(cut) + 1;
  const inputShape = (cut === null ? features.inputs[0]!.shape : cut.outputShape as (number | null)[]).slice(1) as number[];
  const input = tf.input({ shape: inputShape, name: 'trainable_input' });
  const trained = features.layers.slice(startIndex);
  for (const layer of trained) {
    // Keras MobileNet's BatchNormalization keeps moving statistics with momentum 0.99 (≈ 100-step memory) from
    // ImageNet. Fine-tuned on sketches, those lag the changing weights for hundreds of steps, so validation
    // (which uses them) trails training accuracy by 20–40 points for the first epochs (measured). 0.9 tracks
    // within ~10 steps. The field is private in tfjs's typings but read on every training call.
    if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { momentum: number }).momentum = FINE_TUNE_BN_MOMENTUM;
  }
  const last = reapply(trained, cut?.name ?? features.layers[0]!.name, input);
  let x = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(last) as tf.SymbolicTensor;
  if (head.dropoutRate > 0) x = tf.layers.dropout({ rate: head.dropoutRate, name: 'head_dropout', seed: head.seed }).apply(x) as tf.SymbolicTensor;
  const probabilities = tf.layers.dense({
    units: head.numClasses, activation: 'softmax', name: 'head_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: head.seed }),
  }).apply(x) as tf.SymbolicTensor;
  const trainable = tf.model({ inputs: input, outputs: probabilities, name: 'trainable' });
  return { frozen, trainable, cutLayer: cut?.name ?? 'input' };
}

/**
 * Calls `layers` (in graph order) again on new inputs, starting from the output of `startNames` (one layer,
 * or the names it has in two graphs) = `input`, so the new graph shares their weights. Throws when a layer
 * reads something before the start (not a clean cut).
 */
export function reapply(layers: tf.layers.Layer[], startNames: string | string[], input: tf.SymbolicTensor): tf.SymbolicTensor {
  const names = typeof startNames === 'string' ? [startNames] : startNames;
  const startName = names.join(' / ');
  const outputs = new Map<string, tf.SymbolicTensor>(names.map((name) => [name, input]));
  let last = input;
  for (const layer of layers) {
    const inbound = inboundOf(layer).map((l) => {
      const tensor = outputs.get(l.name);
      if (tensor === undefined) throw new Error(`Cannot cut the model at ${startName}: ${layer.name} reads ${l.name}.`);
      return tensor;
    });
    last = layer.apply(inbound.length === 1 ? inbound[0]! : inbound) as tf.SymbolicTensor;
    outputs.set(layer.name, last);
  }
  return last;
}

/** One flat model from image to probabilities (frozen layers, trained blocks and head), for export and inference. */
export function inferenceModel(backbone: Backbone, split: SplitModel): tf.LayersModel {
  const { features } = backbone;
  const input = tf.input({ shape: features.inputs[0]!.shape.slice(1) as number[], name: 'image' });
  const cutIndex = split.frozen === null ? 0 : features.layers.findIndex((l) => l.name === split.cutLayer);
  const frozenOut = reapply(features.layers.slice(1, cutIndex + 1), features.layers[0]!.name, input);
  const [trainableInput, ...trainableLayers] = split.trainable.layers;
  // A trained backbone layer's first inbound node is its call in the pretrained graph, which starts at the cut;
  // the head's is its call in the trainable model, which starts at that model's input (all it reads when
  // only the head is trained).
  const start = [split.frozen === null ? features.layers[0]!.name : split.cutLayer, trainableInput!.name];
  const output = reapply(trainableLayers, start, frozenOut);
  return tf.model({ inputs: input, outputs: output, name: 'doodle_lab_classifier' });
}

/** 28×28 (or any square) uint8 bitmaps, white on black, to MobileNet input: resized, 3 channels, [-1, 1]. */
export function preprocess(bitmaps: Uint8Array, imageSizePx: number, inputSizePx: number): tf.Tensor4D {
  return tf.tidy(() => {
    const count = bitmaps.length / (imageSizePx * imageSizePx);
    const images = tf.tensor4d(bitmaps, [count, imageSizePx, imageSizePx, 1], 'float32');
    const resized = inputSizePx === imageSizePx ? images : tf.image.resizeBilinear(images, [inputSizePx, inputSizePx], true);
    return tf.tile(resized.div(127.5).sub(1), [1, 1, 1, 3]) as tf.Tensor4D;
  });
}

/**
 * `model`'s class probabilities for `bitmaps` (imageSizePx², back to back), `batch` drawings a call, averaged over
 * the test-time views of `mode` (augment.ts testTimeViews): what evaluation outside a Trainer scores.
 */
export async function predictProbabilities(
  model: tf.LayersModel, bitmaps: Uint8Array, shape: { imageSizePx: number; inputSizePx: number; batch: number }, mode?: TestTimeAugmentation,
): Promise<Float32Array> {
  const pixels = shape.imageSizePx ** 2, count = bitmaps.length / pixels;
  const classes = model.outputs[0]!.shape[1] as number;
  const views = await Promise.all(testTimeViews(bitmaps, shape.imageSizePx, mode).map(async (view) => {
    const out = new Float32Array(count * classes);
    for (let start = 0; start < count; start += shape.batch) {
      const end = Math.min(count, start + shape.batch);
      const output = tf.tidy(() => model.predict(preprocess(view.subarray(start * pixels, end * pixels), shape.imageSizePx, shape.inputSizePx)) as tf.Tensor);
      out.set(await output.data(), start * classes);
      output.dispose();
    }
    return out;
  }));
  return averageViews(views);
}
