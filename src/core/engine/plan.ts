// The engine's view of a MobileNet (v1, or v2 with its residual adds, as Teachable Machine exports it) plus the
// app's head: the ordered steps one training step runs (convolutions with BatchNormalization and ReLU6 fused into
// them, residual adds, pooling, dense), each activation's shape, and where every weight lives in the two flat
// buffers the engine keeps (trainable parameters, and BatchNormalization's moving statistics), named as Keras names
// them so weights move to and from tfjs LayersModels. Pure TS, any thread.
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
  /**
   * Zeros before the image: TensorFlow 'same' puts the odd pixel of padding after the image (top/left get the
   * floor of half); a ZeroPadding2D before a 'valid' window is folded in here (its bottom/right zeros only set the
   * output size, as the kernels read outside the image as zero).
   */
  padTop: number;
  padLeft: number;
}

export type PlanStep =
  | (Spatial & { kind: 'conv'; cin: number; cout: number; kernel: WeightSlot })
  | (Spatial & { kind: 'depthwise'; channels: number; kernel: WeightSlot })
  | { kind: 'pointwise'; name: string; rows: number; cin: number; cout: number; kernel: WeightSlot }
  | {
    /** BatchNormalization followed by ReLU6 (`relu` names that layer), or by nothing (v2's linear projections). */
    kind: 'bn-relu6' | 'bn-linear'; name: string; relu?: string; pixels: number; channels: number; epsilon: number;
    gamma: WeightSlot; beta: WeightSlot; movingMean: WeightSlot; movingVariance: WeightSlot;
  }
  /**
   * The previous step's output plus step `skip`'s (a v2 residual connection), `units` floats a drawing; skip −1 is
   * the plan's input (the last blocks on cached features, cut at an add), whose gradient nothing needs.
   */
  | { kind: 'add'; name: string; units: number; skip: number }
  | { kind: 'pool'; pixels: number; channels: number }
  | { kind: 'dropout'; name: string; units: number; rate: number }
  /** The last dense layer is the softmax one (its output the logits); Teachable Machine heads put a ReLU one before it. */
  | { kind: 'dense'; name: string; inputs: number; units: number; activation: 'relu' | 'softmax'; kernel: WeightSlot; bias?: WeightSlot };

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
  /** 'same' or 'valid' for windows; [[top, bottom], [left, right]] for ZeroPadding2D. */
  padding?: string | number[][];
  strides?: number[];
  kernelSize?: number[];
  activation?: string;
  useBias?: boolean;
  depthMultiplier?: number;
  epsilon?: number;
  filters?: number;
  maxValue?: number;
}

/** Nested models a Sequential or functional model may hold as layers (Teachable Machine nests three deep). */
const NESTED_MODELS = new Set(['Sequential', 'Model', 'Functional']);

/**
 * The plan of `features`: a backbone from loadBackbone (MobileNet v1, or v2, up to its last feature map), which
 * gets global average pooling and a dense softmax layer over `numClasses` named `headName` as the app names it; a
 * trainable model from splitBackbone (the whole network, the last blocks on cached features, or the head alone),
 * whose own head (pooling, dropout, dense softmax) is planned as is; or an imported model (a Teachable Machine
 * export: nested models, a v2 backbone, pooling, dense ReLU, dense softmax). Layers run in the model's order; a
 * v2 residual Add names the earlier step its second input comes from.
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
  /** Floats a drawing of each step's output, for checking a residual's two sides agree. */
  const units: number[] = [];
  /** Which step's output each layer's output is (-1: the input), for residual adds to find their skip. */
  const producer = new Map<string, number>();
  let [h, w, c] = [inputSizePx, inputSizePx, inputChannels];
  /** A ZeroPadding2D's [[top, bottom], [left, right]], waiting for the 'valid' window it pads. */
  let pad: number[][] | null = null;
  const push = (step: PlanStep) => {
    steps.push(step);
    units.push(h * w * c);
  };
  const walk = (layers: tf.layers.Layer[]): void => {
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i]!;
      const kind = layer.getClassName();
      // getConfig() is a plain serialisable dict; LayerConfig names the fields tfjs's conv, BN and activation layers put there.
      const config = layer.getConfig() as LayerConfig;
      if (pad !== null && kind !== 'Conv2D' && kind !== 'DepthwiseConv2D') throw new UnsupportedModelError(`${layer.name}: the engine folds zero padding only into the convolution after it.`);
      if (kind !== 'Add' && !readsLatest(layer)) throw new UnsupportedModelError(`${layer.name} reads an output other than the one before it: the engine runs a chain (plus residual adds).`);
      if (NESTED_MODELS.has(kind)) {
        // A nested model is a layer whose `layers` the engine plans in place.
        walk((layer as unknown as tf.LayersModel).layers);
      } else if (kind === 'InputLayer') {
        // A nested model's input is whatever the chain holds when it starts.
      } else if (kind === 'ZeroPadding2D') {
        pad = config.padding as number[][]; // A ZeroPadding2D's config always holds the nested form.
      } else if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
        convolution(layer, kind, config);
      } else if (kind === 'BatchNormalization') {
        const relu = layers[i + 1];
        const reluConfig = relu?.getConfig() as LayerConfig | undefined;
        const isRelu6 = relu !== undefined && (reluConfig?.activation === 'relu6' || (relu.getClassName() === 'ReLU' && reluConfig?.maxValue === 6));
        const byName = new Map(layer.weights.map((weight) => [weight.originalName.split('/').pop()!, weight]));
        const named = (list: WeightSlot[], key: string) => {
          const weight = byName.get(key);
          if (weight === undefined) throw new UnsupportedModelError(`${layer.name} has no ${key}.`);
          return slot(list, weight.originalName, weight.shape as number[]);
        };
        push({
          kind: isRelu6 ? 'bn-relu6' : 'bn-linear', name: layer.name, ...(isRelu6 ? { relu: relu.name } : {}), pixels: h * w, channels: c,
          epsilon: config.epsilon ?? 1e-3,
          gamma: named(params, 'gamma'), beta: named(params, 'beta'), movingMean: named(state, 'moving_mean'), movingVariance: named(state, 'moving_variance'),
        });
        if (isRelu6) {
          producer.set(layer.name, steps.length - 1);
          i++;
          producer.set(relu.name, steps.length - 1);
          continue;
        }
      } else if (kind === 'Add') {
        residual(layer);
      } else if (kind === 'GlobalAveragePooling2D') {
        const pixels = h * w;
        [h, w] = [1, 1];
        push({ kind: 'pool', pixels, channels: c });
      } else if (kind === 'Dropout') {
        // Dropout of rate 0 is the identity, as is any rate in prediction. A Dropout layer's config holds its rate.
        const { rate = 0 } = config as { rate?: number };
        if (!inference && rate > 0) push({ kind: 'dropout', name: layer.name, units: h * w * c, rate });
      } else if (kind === 'Dense') {
        dense(layer, config);
      } else {
        throw new UnsupportedModelError(`The engine does not cover ${kind} layers (${layer.name}).`);
      }
      producer.set(layer.name, steps.length - 1);
    }
  };
  const convolution = (layer: tf.layers.Layer, kind: string, config: LayerConfig): void => {
    if (config.useBias === true || (config.activation ?? 'linear') !== 'linear') throw new UnsupportedModelError(`${layer.name}: the engine fuses no bias or activation into convolutions.`);
    const [kh, kw] = config.kernelSize ?? [];
    const stride = config.strides?.[0] ?? 1;
    if (config.strides?.[1] !== stride) throw new UnsupportedModelError(`${layer.name}: unequal strides.`);
    const padded = pad;
    pad = null;
    if (padded !== null && config.padding !== 'valid') throw new UnsupportedModelError(`${layer.name}: zero padding before a '${String(config.padding)}' window.`);
    const window = (length: number, k: number, [before = 0, after = 0]: number[] = []) => (padded === null
      ? samePadding(length, k, stride, config.padding as string) // Conv2D and DepthwiseConv2D configs hold 'same' or 'valid'.
      : { out: Math.floor((length + before + after - k) / stride) + 1, before });
    const { out: outH, before: padTop } = window(h, kh!, padded?.[0]);
    const { out: outW, before: padLeft } = window(w, kw!, padded?.[1]);
    const kernel = slot(params, layer.weights[0]!.originalName, layer.weights[0]!.shape as number[]);
    const spatial = { name: layer.name, inH: h, inW: w, outH, outW, stride, padTop, padLeft };
    if (kind === 'DepthwiseConv2D') {
      if ((config.depthMultiplier ?? 1) !== 1 || kh !== 3 || kw !== 3) throw new UnsupportedModelError(`${layer.name}: the engine's depthwise kernels are 3×3 with depth multiplier 1.`);
      [h, w] = [outH, outW];
      push({ kind: 'depthwise', ...spatial, channels: c, kernel });
    } else if (kh === 1 && kw === 1 && stride === 1 && padded === null) {
      const cin = c;
      c = config.filters!;
      push({ kind: 'pointwise', name: layer.name, rows: h * w, cin, cout: c, kernel });
    } else if (kh === 3 && kw === 3) {
      const cin = c;
      [h, w, c] = [outH, outW, config.filters!];
      push({ kind: 'conv', ...spatial, cin, cout: c, kernel });
    } else {
      throw new UnsupportedModelError(`${layer.name}: a ${kh}×${kw} convolution with stride ${stride}.`);
    }
  };
  /** Each call of `layer` whose inputs this plan has seen, as the steps they come from (a layer reused in a split
   * model has one call per graph; a nested model's first layer reads an input layer the walk never sees). */
  const seenCalls = (layer: tf.layers.Layer): number[][] => layer.inboundNodes
    .map((node) => node.inboundLayers.map((l) => producer.get(l.name)))
    .filter((found): found is number[] => found.length > 0 && found.every((s) => s !== undefined));
  const readsLatest = (layer: tf.layers.Layer): boolean => {
    const calls = seenCalls(layer);
    return calls.length === 0 || calls.some((call) => call.length === 1 && call[0] === steps.length - 1);
  };
  const residual = (layer: tf.layers.Layer): void => {
    const last = steps.length - 1;
    const sources = seenCalls(layer).find((call) => call.length === 2) as [number, number] | undefined;
    if (sources === undefined || !sources.includes(last)) throw new UnsupportedModelError(`${layer.name}: the engine adds an earlier output to the latest one only.`);
    const skip = sources[0] === last ? sources[1] : sources[0];
    const skipUnits = skip < 0 ? inputSizePx * inputSizePx * inputChannels : units[skip];
    if (skip === last || skipUnits !== h * w * c) throw new UnsupportedModelError(`${layer.name}: a residual from ${skip < 0 ? 'the input' : `step ${skip}`} of another shape.`);
    push({ kind: 'add', name: layer.name, units: h * w * c, skip });
  };
  const dense = (layer: tf.layers.Layer, config: LayerConfig): void => {
    const previous = steps.filter((step) => step.kind !== 'dropout').at(-1);
    const after = previous?.kind === 'pool' || (previous?.kind === 'dense' && previous.activation === 'relu');
    const activation = config.activation;
    if (!after || (activation !== 'softmax' && activation !== 'relu')) throw new UnsupportedModelError(`${layer.name}: the engine covers dense ReLU or softmax layers after pooling.`);
    const [kernel, bias] = layer.weights;
    if (kernel === undefined || (config.useBias !== false && bias === undefined)) throw new UnsupportedModelError(`${layer.name} lacks its weights.`);
    const inputs = c;
    c = kernel.shape[1]!;
    push({
      kind: 'dense', name: layer.name, inputs, units: c, activation, kernel: slot(params, kernel.originalName, kernel.shape as number[]),
      ...(bias === undefined ? {} : { bias: slot(params, bias.originalName, bias.shape as number[]) }),
    });
  };
  walk(features.layers);
  const last = steps.at(-1);
  if (last?.kind === 'dense' && last.activation !== 'softmax') throw new UnsupportedModelError(`${last.name}: the model ends in a ${last.activation} layer, not softmax.`);
  // A backbone alone gets the app's head: global average pooling and a dense softmax layer.
  if (last?.kind !== 'dense') {
    const pixels = h * w;
    [h, w] = [1, 1];
    push({ kind: 'pool', pixels, channels: c });
    push({ kind: 'dense', name: headName, inputs: c, units: numClasses, activation: 'softmax', kernel: slot(params, `${headName}/kernel`, [c, numClasses]), bias: slot(params, `${headName}/bias`, [numClasses]) });
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
