// The engine's view of a MobileNet v1 backbone plus the app's head: the ordered steps one training step runs
// (convolutions with BatchNormalization and ReLU6 fused into them, pooling, dense), each activation's shape, and
// where every weight lives in the two flat buffers the engine keeps (trainable parameters, and BatchNormalization's
// moving statistics), named as Keras names them so weights move to and from tfjs LayersModels. Pure TS, any thread.
import type * as tf from '@tensorflow/tfjs';

/** One weight in a flat buffer: its Keras name (e.g. "conv_dw_3/depthwise_kernel"), offset in floats and shape. */
export interface WeightSlot {
  name: string;
  offset: number;
  shape: number[];
}

interface Spatial {
  /** The layer's Keras name. */
  name: string;
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  stride: number;
  /** TensorFlow 'same' puts the odd pixel of padding after the image: top/left get the floor of half. */
  padTop: number;
  padLeft: number;
}

export type PlanStep =
  | (Spatial & { kind: 'conv'; cin: number; cout: number; kernel: WeightSlot })
  | (Spatial & { kind: 'depthwise'; channels: number; kernel: WeightSlot })
  | { kind: 'pointwise'; name: string; rows: number; cin: number; cout: number; kernel: WeightSlot }
  | {
    kind: 'bn-relu6'; name: string; relu: string; pixels: number; channels: number; epsilon: number;
    gamma: WeightSlot; beta: WeightSlot; movingMean: WeightSlot; movingVariance: WeightSlot;
  }
  | { kind: 'pool'; pixels: number; channels: number }
  | { kind: 'dropout'; name: string; units: number; rate: number }
  | { kind: 'dense'; name: string; inputs: number; units: number; kernel: WeightSlot; bias: WeightSlot };

export interface EnginePlan {
  /** Side of the square input: an image's (RGB), or the feature map a trainable part after a cut starts from. */
  inputSizePx: number;
  /** Channels of the input: 3 for images, the cut layer's for cached features. */
  inputChannels: number;
  steps: PlanStep[];
  /** Trainable weights in one buffer (what Adam updates), each starting on a SLOT_ALIGN_FLOATS boundary. */
  params: WeightSlot[];
  paramCount: number;
  /** BatchNormalization's moving mean and variance in a second buffer, aligned the same way. */
  state: WeightSlot[];
  stateCount: number;
}

export interface PlanOptions {
  /** The head's name when the plan adds one (a backbone alone). */
  headName?: string;
  /** Planned for prediction only: dropout of any rate is the identity (and not planned). */
  inference?: boolean;
}

/** Thrown for a model the engine does not cover; the caller trains it on the tfjs path instead. */
export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
}

/** What the engine reads of a layer's config, as tfjs's getConfig names it (camelCase). */
interface LayerConfig {
  padding?: string;
  strides?: number[];
  kernelSize?: number[];
  activation?: string;
  useBias?: boolean;
  depthMultiplier?: number;
  epsilon?: number;
  filters?: number;
  maxValue?: number;
}

/**
 * The plan of `features`: a backbone from loadBackbone (MobileNet v1 up to its last feature map), which gets global
 * average pooling and a dense softmax layer over `numClasses` named `headName` as the app names it; or a trainable
 * model from splitBackbone (the whole network, the last blocks on cached features, or the head alone), whose own
 * head (pooling, dropout, dense softmax) is planned as is.
 */
export function planMobileNetV1(features: tf.LayersModel, numClasses: number, options: PlanOptions = {}): EnginePlan {
  const { headName = 'head_dense', inference = false } = options;
  const input = features.inputs[0]!.shape;
  const [, inputSizePx, inputWidth, inputChannels] = input as [null, number, number, number];
  if (inputWidth !== inputSizePx) throw new UnsupportedModelError(`The engine takes square inputs, not ${JSON.stringify(input)}.`);
  const params: WeightSlot[] = [];
  const state: WeightSlot[] = [];
  const slot = (list: WeightSlot[], name: string, shape: number[]): WeightSlot => {
    const last = list.at(-1);
    const placed = { name, shape, offset: last === undefined ? 0 : alignSlot(last.offset + size(last.shape)) };
    list.push(placed);
    return placed;
  };
  const steps: PlanStep[] = [];
  let [h, w, c] = [inputSizePx, inputSizePx, inputChannels];
  const layers = features.layers;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const kind = layer.getClassName();
    // getConfig() is a plain serialisable dict; LayerConfig names the fields tfjs's conv, BN and activation layers put there.
    const config = layer.getConfig() as LayerConfig;
    if (kind === 'InputLayer') continue;
    if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
      if (config.useBias === true || (config.activation ?? 'linear') !== 'linear') throw new UnsupportedModelError(`${layer.name}: the engine fuses no bias or activation into convolutions.`);
      const [kh, kw] = config.kernelSize ?? [];
      const stride = config.strides?.[0] ?? 1;
      if (config.strides?.[1] !== stride) throw new UnsupportedModelError(`${layer.name}: unequal strides.`);
      const { out: outH, before: padTop } = samePadding(h, kh!, stride, config.padding);
      const { out: outW, before: padLeft } = samePadding(w, kw!, stride, config.padding);
      const kernel = slot(params, layer.weights[0]!.originalName, layer.weights[0]!.shape as number[]);
      const spatial = { name: layer.name, inH: h, inW: w, outH, outW, stride, padTop, padLeft };
      if (kind === 'DepthwiseConv2D') {
        if ((config.depthMultiplier ?? 1) !== 1 || kh !== 3 || kw !== 3) throw new UnsupportedModelError(`${layer.name}: the engine's depthwise kernels are 3×3 with depth multiplier 1.`);
        steps.push({ kind: 'depthwise', ...spatial, channels: c, kernel });
      } else if (kh === 1 && kw === 1 && stride === 1) {
        steps.push({ kind: 'pointwise', name: layer.name, rows: h * w, cin: c, cout: config.filters!, kernel });
        c = config.filters!;
      } else if (kh === 3 && kw === 3) {
        steps.push({ kind: 'conv', ...spatial, cin: c, cout: config.filters!, kernel });
        c = config.filters!;
      } else {
        throw new UnsupportedModelError(`${layer.name}: a ${kh}×${kw} convolution with stride ${stride}.`);
      }
      [h, w] = [outH, outW];
      continue;
    }
    if (kind === 'BatchNormalization') {
      const relu = layers[i + 1];
      const reluConfig = relu?.getConfig() as LayerConfig | undefined;
      const isRelu6 = relu !== undefined && (reluConfig?.activation === 'relu6' || (relu.getClassName() === 'ReLU' && reluConfig?.maxValue === 6));
      if (!isRelu6) throw new UnsupportedModelError(`${layer.name} is not followed by ReLU6.`);
      const byName = new Map(layer.weights.map((weight) => [weight.originalName.split('/').pop()!, weight]));
      const named = (list: WeightSlot[], key: string) => {
        const weight = byName.get(key);
        if (weight === undefined) throw new UnsupportedModelError(`${layer.name} has no ${key}.`);
        return slot(list, weight.originalName, weight.shape as number[]);
      };
      steps.push({
        kind: 'bn-relu6', name: layer.name, relu: relu.name, pixels: h * w, channels: c, epsilon: config.epsilon ?? 1e-3,
        gamma: named(params, 'gamma'), beta: named(params, 'beta'), movingMean: named(state, 'moving_mean'), movingVariance: named(state, 'moving_variance'),
      });
      i++;
      continue;
    }
    if (kind === 'GlobalAveragePooling2D') {
      steps.push({ kind: 'pool', pixels: h * w, channels: c });
      [h, w] = [1, 1];
      continue;
    }
    // Dropout of rate 0 is the identity, as is any rate in prediction. getConfig() is a plain dict; a Dropout
    // layer's holds its rate.
    if (kind === 'Dropout') {
      const { rate = 0 } = config as { rate?: number };
      if (!inference && rate > 0) steps.push({ kind: 'dropout', name: layer.name, units: h * w * c, rate });
      continue;
    }
    const previous = steps.filter((step) => step.kind !== 'dropout').at(-1)?.kind;
    if (kind === 'Dense' && config.activation === 'softmax' && previous === 'pool') {
      const [kernel, bias] = layer.weights;
      if (kernel === undefined || bias === undefined) throw new UnsupportedModelError(`${layer.name} has no bias.`);
      steps.push({
        kind: 'dense', name: layer.name, inputs: c, units: kernel.shape[1]!,
        kernel: slot(params, kernel.originalName, kernel.shape as number[]), bias: slot(params, bias.originalName, bias.shape as number[]),
      });
      continue;
    }
    throw new UnsupportedModelError(`The engine does not cover ${kind} layers (${layer.name}).`);
  }
  // A backbone alone gets the app's head: global average pooling and a dense softmax layer.
  if (steps.at(-1)?.kind !== 'dense') {
    steps.push({ kind: 'pool', pixels: h * w, channels: c });
    steps.push({ kind: 'dense', name: headName, inputs: c, units: numClasses, kernel: slot(params, `${headName}/kernel`, [c, numClasses]), bias: slot(params, `${headName}/bias`, [numClasses]) });
  }
  const end = (list: WeightSlot[]) => (list.length === 0 ? 0 : alignSlot(list.at(-1)!.offset + size(list.at(-1)!.shape)));
  if (steps[0]?.kind === 'conv' && inputChannels !== 3) throw new UnsupportedModelError(`The engine's first convolution takes RGB images, not ${inputChannels} channels.`);
  return { inputSizePx, inputChannels, steps, params, paramCount: end(params), state, stateCount: end(state) };
}

/** Output size and the padding before the image, as TensorFlow computes them for 'same' (and none for 'valid'). */
export function samePadding(size: number, kernel: number, stride: number, padding = 'valid'): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, before: 0 };
  if (padding !== 'same') throw new UnsupportedModelError(`Padding '${padding}' is not covered by the engine.`);
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/**
 * Slots start on 64-float (256-byte) boundaries: WebGPU binds a range of a storage buffer only at offsets that
 * are multiples of minStorageBufferOffsetAlignment (256 on every adapter), so each weight can be bound on its own
 * while all of them stay in one buffer for the optimizer. The gaps hold zeros and zero gradients, which Adam leaves
 * at zero.
 */
export const SLOT_ALIGN_FLOATS = 64;

function alignSlot(offset: number): number {
  return Math.ceil(offset / SLOT_ALIGN_FLOATS) * SLOT_ALIGN_FLOATS;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The weights of `model` that the plan names, copied into the engine's two buffers (others are ignored). */
export async function packWeights(plan: EnginePlan, model: tf.LayersModel): Promise<{ params: Float32Array; state: Float32Array }> {
  const byName = new Map(model.weights.map((weight) => [weight.originalName, weight]));
  const fill = async (slots: WeightSlot[], length: number): Promise<Float32Array> => {
    const out = new Float32Array(length);
    for (const s of slots) {
      const weight = byName.get(s.name);
      if (weight === undefined) throw new Error(`The model has no weight ${s.name}.`);
      if (weight.shape.join() !== s.shape.join()) throw new Error(`${s.name} is ${JSON.stringify(weight.shape)} in the model, ${JSON.stringify(s.shape)} in the plan.`);
      out.set(await weight.read().data() as Float32Array, s.offset);
    }
    return out;
  };
  return { params: await fill(plan.params, plan.paramCount), state: await fill(plan.state, plan.stateCount) };
}

/** Each named weight's values as a view into the engine's buffers, for writing them back into a LayersModel. */
export function unpackWeights(plan: EnginePlan, params: Float32Array, state: Float32Array): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [slots, buffer] of [[plan.params, params], [plan.state, state]] as const) {
    for (const s of slots) out.set(s.name, { shape: s.shape, values: buffer.subarray(s.offset, s.offset + size(s.shape)) });
  }
  return out;
}
