// The engine's whole training step for a planned MobileNet v1 or v2 (plan.ts): forward with batch statistics,
// softmax cross-entropy, the backward chain (residual gradients joining it at their skip's source) and one Adam
// update, recorded as one command buffer of large dispatches over buffers allocated once, with loss and accuracy
// summed on the device. Weights live in the plan's two flat buffers and move to and from LayersModels through
// packWeights/unpackWeights. Runs where the GpuContext lives.
import { depthwiseBackwardFilter, depthwiseBackwardInput, depthwiseFilterScratchLength, depthwiseForward, type DepthwiseShape } from './conv.ts';
import { STEM_IN_CHANNELS, stemBackwardFilter, stemFilterScratchLength, stemForward, type StemShape } from './conv-stem.ts';
import { accumulate, addForward, reluBackward, reluForward } from './elementwise.ts';
import type { Binding, GpuContext } from './gpu.ts';
import { adamStep, dropoutBackward, dropoutForward, METRIC, METRICS_LENGTH, poolBackward, poolForward, softmaxCrossEntropy } from './head.ts';
import {
  backwardInputShape, backwardWeightsShape, biasGradient, biasGradientScratchLength, matmulBackwardInput, matmulBackwardWeights,
  matmulForward, matmulScratchLength,
} from './matmul.ts';
import { BN_EPSILON, normBackward, normForwardInference, normForwardTraining, normSavedLength, normScratchLength } from './norm.ts';
import { UnsupportedModelError, type EnginePlan, type PlanStep, type WeightSlot } from './plan.ts';
import type { AugmentDraw } from '../training/augment.ts';
import { augmentBitmapsOnDevice, bitmapWords, DRAW_FLOATS, packBitmaps, packDraws, preprocessBitmaps } from './preprocess.ts';
import { BITMAP_SIDE_PX } from '../data/render.ts';

export interface EngineStepOptions {
  /** Drawings per step; every buffer is sized for it once. */
  batch: number;
  /** BatchNormalization's moving-average momentum for the trained layers (mobilenet.ts: FINE_TUNE_BN_MOMENTUM). */
  momentum: number;
  /** Side of the stored bitmaps `stepBitmaps` takes (28 for Quick, Draw!). */
  imageSizePx?: number;
  /** Picks dropout's masks with the step count (the run's seed, so a resumed run draws the same masks). */
  seed?: number;
  /** Training targets are (1 − labelSmoothing)·one-hot + labelSmoothing/classes (0 or absent: one-hot). */
  labelSmoothing?: number;
}

/** Loss and accuracy over the steps since the last read: sums, so reads over uneven batches add up exactly. */
export interface StepMetrics {
  lossSum: number;
  correct: number;
  samples: number;
  steps: number;
}

interface Layer {
  step: PlanStep;
  /** What the step writes: a convolution's pre-normalization output, BN+ReLU6's activation, the pooled or logits. */
  out: GPUBuffer;
  /** BatchNormalization: the batch mean and 1/√(σ²+ε) its backward pass reads; dropout: its scaled mask. */
  saved?: GPUBuffer;
  /**
   * A residual add: the gradient of its output, which the step after it writes here (not to the ping-pong
   * buffers) so it survives the backward pass of the block down to the skip's source, which adds it in.
   */
  grad?: GPUBuffer;
}

export class EngineTrainer {
  readonly params: GPUBuffer;
  readonly state: GPUBuffer;
  private readonly grads: GPUBuffer;
  private readonly m: GPUBuffer;
  private readonly v: GPUBuffer;
  private readonly input: GPUBuffer;
  /** Raw bitmaps of a batch, 4 bytes a word, that `stepBitmaps` preprocesses into `input` on the device. */
  private readonly bitmaps: GPUBuffer;
  /** Augmentation: each drawing's transform (packed here, then on the device), and the warped bitmaps preprocessing
   * then reads (and thickens). */
  private readonly drawValues: Float32Array<ArrayBuffer>;
  private readonly draws: GPUBuffer;
  private readonly warped: GPUBuffer;
  private readonly labels: GPUBuffer;
  /** Loss and accuracy sums since the last `readMetrics` (head.ts: METRIC). */
  private readonly metrics: GPUBuffer;
  private readonly layers: Layer[];
  private readonly dLogits: GPUBuffer;
  /** Gradients with respect to activations, ping-ponged down the network (a kernel never writes what it reads). */
  private readonly gradA: GPUBuffer;
  private readonly gradB: GPUBuffer;
  private readonly scratch: GPUBuffer;
  /** For each step that a residual add reads as its skip, those adds' indices (the input's, −1, needs no gradient). */
  private readonly skipsInto = new Map<number, number[]>();
  private steps = 0;

  /** Side of the stored bitmaps this trainer takes (options.imageSizePx, else Quick, Draw!'s). */
  readonly imageSizePx: number;

  constructor(private readonly gpu: GpuContext, readonly plan: EnginePlan, readonly options: EngineStepOptions) {
    this.imageSizePx = options.imageSizePx ?? BITMAP_SIDE_PX;
    const { batch } = options;
    this.params = gpu.buffer(plan.paramCount, 'params');
    this.state = gpu.buffer(plan.stateCount, 'state');
    this.grads = gpu.buffer(plan.paramCount, 'grads');
    this.m = gpu.buffer(plan.paramCount, 'adam m');
    this.v = gpu.buffer(plan.paramCount, 'adam v');
    this.input = gpu.buffer(batch * plan.inputSizePx ** 2 * plan.inputChannels, 'input');
    this.bitmaps = gpu.buffer(bitmapWords(batch, this.imageSizePx), 'bitmaps');
    this.drawValues = new Float32Array(batch * DRAW_FLOATS);
    this.draws = gpu.buffer(batch * DRAW_FLOATS, 'augmentation draws');
    this.warped = gpu.buffer(bitmapWords(batch, this.imageSizePx), 'warped bitmaps');
    this.labels = gpu.buffer(batch, 'labels');
    this.metrics = gpu.buffer(METRICS_LENGTH, 'metrics');
    let largest = 0, scratch = 0;
    this.layers = plan.steps.map((step) => {
      const length = batch * outputsOf(step);
      largest = Math.max(largest, length);
      scratch = Math.max(scratch, scratchOf(step, batch));
      if (step.kind === 'bn-relu6' || step.kind === 'bn-linear') {
        if (step.epsilon !== BN_EPSILON) throw new UnsupportedModelError(`${step.name}: the engine's BatchNormalization uses ε = ${BN_EPSILON}, not ${step.epsilon}.`);
        return { step, out: gpu.buffer(length, step.name), saved: gpu.buffer(normSavedLength({ rows: 0, channels: step.channels }), `${step.name} saved`) };
      }
      if (step.kind === 'dropout') return { step, out: gpu.buffer(length, step.name), saved: gpu.buffer(length, `${step.name} mask`) };
      if (step.kind === 'add') return { step, out: gpu.buffer(length, step.name), grad: gpu.buffer(length, `${step.name} gradient`) };
      return { step, out: gpu.buffer(length, 'name' in step ? step.name : step.kind) };
    });
    plan.steps.forEach((step, i) => { if (step.kind === 'add') this.skipsInto.set(step.skip, [...this.skipsInto.get(step.skip) ?? [], i]); });
    this.dLogits = gpu.buffer(batch * this.dense.units, 'dLogits');
    this.gradA = gpu.buffer(largest, 'grad A');
    this.gradB = gpu.buffer(largest, 'grad B');
    this.scratch = gpu.buffer(Math.max(1, scratch), 'scratch');
  }

  private get dense(): Extract<PlanStep, { kind: 'dense' }> {
    const last = this.plan.steps.at(-1);
    if (last?.kind !== 'dense') throw new UnsupportedModelError('The plan does not end with a dense layer.');
    return last;
  }

  /** Replaces the weights (and resets Adam's moments and step count, as a new tfjs optimizer would). */
  setWeights(params: Float32Array, state: Float32Array): void {
    this.gpu.write(this.params, params);
    this.gpu.write(this.state, state);
    this.gpu.write(this.m, new Float32Array(this.plan.paramCount));
    this.gpu.write(this.v, new Float32Array(this.plan.paramCount));
    this.steps = 0;
  }

  /** Adam's moments (in the params layout) and the number of updates made, as a checkpoint keeps them. */
  setAdamState(m: Float32Array, v: Float32Array, steps: number): void {
    this.gpu.write(this.m, m);
    this.gpu.write(this.v, v);
    this.steps = steps;
  }

  async readAdamState(): Promise<{ m: Float32Array; v: Float32Array; steps: number }> {
    return { m: await this.gpu.read(this.m, this.plan.paramCount), v: await this.gpu.read(this.v, this.plan.paramCount), steps: this.steps };
  }

  async readWeights(): Promise<{ params: Float32Array; state: Float32Array }> {
    return { params: await this.gpu.read(this.params, this.plan.paramCount), state: await this.gpu.read(this.state, this.plan.stateCount) };
  }

  /** The parameter gradients of the latest step, in the params layout (for tests against tfjs). */
  readGradients(): Promise<Float32Array> {
    return this.gpu.read(this.grads, this.plan.paramCount);
  }

  /** The scaled dropout mask of the latest training step (for tests against tfjs, whose masks are its own). */
  readDropoutMask(): Promise<Float32Array> {
    const layer = this.layers.find((l) => l.step.kind === 'dropout');
    if (layer === undefined) throw new Error('This plan has no dropout.');
    return this.gpu.read(layer.saved!);
  }

  /** Loss and accuracy summed over the steps since the last read (one readback), then starts new sums. */
  async readMetrics(): Promise<StepMetrics> {
    const tally = await this.gpu.read(this.metrics, METRICS_LENGTH);
    this.gpu.write(this.metrics, this.zeroMetrics);
    return { lossSum: tally[METRIC.lossSum]!, correct: tally[METRIC.correct]!, samples: tally[METRIC.samples]!, steps: tally[METRIC.batches]! };
  }

  private readonly zeroMetrics = new Float32Array(METRICS_LENGTH);

  /** Waits while more than a couple of steps are queued on the GPU (steps submit without waiting for it). */
  throttle(): Promise<void> {
    return this.gpu.throttle();
  }

  /**
   * One training step on `input` (count × size × size × channels: images preprocessed to [-1, 1], or the cached
   * features of a frozen part) and class-index `labels`, for
   * `count` ≤ batch drawings (an epoch's last batch is short): records every dispatch and submits them, without
   * waiting for the GPU.
   */
  step(input: Float32Array, labels: Uint32Array, learningRate: number, count = this.options.batch): void {
    this.gpu.write(this.input, input);
    this.train(labels, learningRate, count);
  }

  /**
   * The same step from stored bitmaps (count × imageSizePx², uint8), preprocessed on the device, and augmented
   * there first when `draws` (a transform a drawing) is given.
   */
  stepBitmaps(bitmaps: Uint8Array, labels: Uint32Array, learningRate: number, count = this.options.batch, draws?: readonly AugmentDraw[]): void {
    this.assertImages();
    const imageSizePx = this.imageSizePx;
    this.gpu.write(this.bitmaps, packBitmaps(bitmaps));
    const shape = { count, imageSizePx, inputSizePx: this.plan.inputSizePx };
    if (draws === undefined) preprocessBitmaps(this.gpu, { bitmaps: this.bitmaps, out: this.input }, shape);
    else {
      this.gpu.write(this.draws, packDraws(draws, this.drawValues.subarray(0, draws.length * DRAW_FLOATS)));
      augmentBitmapsOnDevice(this.gpu, { bitmaps: this.bitmaps, draws: this.draws, out: this.warped }, shape);
      preprocessBitmaps(this.gpu, { bitmaps: this.warped, out: this.input, draws: this.draws }, shape);
    }
    this.train(labels, learningRate, count);
  }

  private train(labels: Uint32Array, learningRate: number, count: number): void {
    if (count > this.options.batch) throw new Error(`The engine was sized for ${this.options.batch} drawings, not ${count}.`);
    const { gpu } = this;
    gpu.write(this.labels, labels);
    this.forward(count, true);
    const dense = this.dense;
    softmaxCrossEntropy(gpu, { logits: this.layers.at(-1)!.out, labels: this.labels, metrics: this.metrics, dLogits: this.dLogits }, { batch: count, classes: dense.units, labelSmoothing: this.options.labelSmoothing ?? 0 });
    this.backward(count);
    this.steps++;
    adamStep(gpu, { params: this.params, grads: this.grads, m: this.m, v: this.v }, this.plan.paramCount, { learningRate, step: this.steps });
    gpu.submit();
  }

  /**
   * Class probabilities for `count` (≤ batch) drawings, BatchNormalization on its moving statistics as in tfjs's
   * predict: one forward pass of dispatches and one readback of the logits; the softmax over a few classes is
   * taken here.
   */
  async predict(input: Float32Array, count: number): Promise<Float32Array> {
    if (count > this.options.batch) throw new Error(`The engine was sized for ${this.options.batch} drawings, not ${count}.`);
    this.gpu.write(this.input, input);
    return this.probabilities(count);
  }

  /** The same from stored bitmaps (count × imageSizePx², uint8), preprocessed on the device. */
  async predictBitmaps(bitmaps: Uint8Array, count: number): Promise<Float32Array> {
    if (count > this.options.batch) throw new Error(`The engine was sized for ${this.options.batch} drawings, not ${count}.`);
    this.assertImages();
    this.gpu.write(this.bitmaps, packBitmaps(bitmaps));
    preprocessBitmaps(this.gpu, { bitmaps: this.bitmaps, out: this.input }, { count, imageSizePx: this.imageSizePx, inputSizePx: this.plan.inputSizePx });
    return this.probabilities(count);
  }

  private assertImages(): void {
    if (this.plan.inputChannels !== 3 || this.plan.steps[0]?.kind !== 'conv') throw new Error('This engine starts after a cut: it takes cached features, not bitmaps.');
  }

  private async probabilities(count: number): Promise<Float32Array> {
    this.forward(count, false);
    const classes = this.dense.units;
    const logits = await this.gpu.read(this.layers.at(-1)!.out, count * classes);
    for (let n = 0; n < count; n++) {
      const row = logits.subarray(n * classes, (n + 1) * classes);
      const max = Math.max(...row);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += (row[c] = Math.exp(row[c]! - max));
      for (let c = 0; c < classes; c++) row[c]! /= sum;
    }
    return logits;
  }

  private forward(batch: number, training: boolean): void {
    const { gpu, options: { momentum } } = this;
    let x: GPUBuffer = this.input;
    for (const { step, out, saved } of this.layers) {
      switch (step.kind) {
        case 'add': addForward(gpu, { a: x, b: this.layers[step.skip]?.out ?? this.input, y: out }, batch * step.units); break;
        case 'conv': stemForward(gpu, { x, w: this.param(step.kernel), y: out }, conv2dShapeOf(step, batch)); break;
        case 'depthwise': depthwiseForward(gpu, { x, w: this.param(step.kernel), y: out }, depthwiseShapeOf(step, batch)); break;
        case 'pointwise': matmulForward(gpu, { x, w: this.param(step.kernel), y: out, scratch: this.scratch }, { m: batch * step.rows, k: step.cin, n: step.cout }); break;
        case 'bn-relu6': case 'bn-linear': {
          const activation = step.kind === 'bn-relu6' ? 'relu6' : 'linear';
          const weights = { x, y: out, gamma: this.param(step.gamma), beta: this.param(step.beta), movingMean: this.stateOf(step.movingMean), movingVariance: this.stateOf(step.movingVariance) };
          const shape = { rows: batch * step.pixels, channels: step.channels };
          if (training) normForwardTraining(gpu, { ...weights, saved: saved!, scratch: this.scratch }, shape, momentum, activation);
          else normForwardInference(gpu, weights, shape, activation);
          break;
        }
        case 'pool': poolForward(gpu, { x, y: out }, { batch, positions: step.pixels, channels: step.channels }); break;
        // The mask changes every step (the update count picks it); prediction passes everything through.
        case 'dropout': dropoutForward(gpu, { x, y: out, mask: saved! }, { count: batch * step.units, rate: training ? step.rate : 0, seed: this.options.seed ?? 0, step: this.steps + 1 }); break;
        case 'dense':
          matmulForward(gpu, { x, w: this.param(step.kernel), ...(step.bias && { bias: this.param(step.bias) }), y: out, scratch: this.scratch }, { m: batch, k: step.inputs, n: step.units });
          if (step.activation === 'relu') reluForward(gpu, out, batch * step.units);
          break;
      }
      x = out;
    }
  }

  private backward(batch: number): void {
    const { gpu } = this;
    // `dy` is the gradient of the current layer's output; each layer writes its input's gradient to the other
    // ping-pong buffer, or to the buffer of the residual add below it.
    let dy: GPUBuffer = this.dLogits;
    const other = (buffer: GPUBuffer) => (buffer === this.gradA ? this.gradB : this.gradA);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const { step, saved, out } = this.layers[i]!;
      // Where this step's output also fed residual adds, their gradients join the chain's here.
      for (const j of this.skipsInto.get(i) ?? []) accumulate(gpu, { total: dy, addend: this.layers[j]!.grad! }, batch * outputsOf(step));
      const below = this.layers[i - 1];
      const x = below?.out ?? this.input;
      const needsInputGrad = i > 0;
      let dx = below?.grad ?? other(dy);
      switch (step.kind) {
        // The add's gradient passes unchanged to the chain below it (and waits in its buffer for the skip's source).
        case 'add': dx = dy; break;
        case 'dense': {
          const shape = { m: batch, k: step.inputs, n: step.units };
          if (step.activation === 'relu') {
            // Through the ReLU into the buffer dx would use; dx then takes dy's, which is no longer needed.
            const dz = dx;
            reluBackward(gpu, { dy, y: out, dx: dz }, batch * step.units);
            [dy, dx] = [dz, below?.grad ?? other(dz)];
          }
          if (step.bias) biasGradient(gpu, { dy, db: this.grad(step.bias), scratch: this.scratch }, { m: batch, n: step.units });
          matmulBackwardWeights(gpu, { x, dy, dw: this.grad(step.kernel), scratch: this.scratch }, shape);
          matmulBackwardInput(gpu, { dy, w: this.param(step.kernel), dx, scratch: this.scratch }, shape);
          break;
        }
        case 'pool': if (needsInputGrad) poolBackward(gpu, { dy, dx }, { batch, positions: step.pixels, channels: step.channels }); break;
        case 'dropout': if (needsInputGrad) dropoutBackward(gpu, { dy, mask: saved!, dx }, batch * step.units); break;
        case 'bn-relu6': case 'bn-linear':
          normBackward(gpu, {
            x, dy, saved: saved!, dx, gamma: this.param(step.gamma), beta: this.param(step.beta),
            dGamma: this.grad(step.gamma), dBeta: this.grad(step.beta), scratch: this.scratch,
          }, { rows: batch * step.pixels, channels: step.channels }, step.kind === 'bn-relu6' ? 'relu6' : 'linear');
          break;
        case 'pointwise': {
          const shape = { m: batch * step.rows, k: step.cin, n: step.cout };
          matmulBackwardWeights(gpu, { x, dy, dw: this.grad(step.kernel), scratch: this.scratch }, shape);
          if (needsInputGrad) matmulBackwardInput(gpu, { dy, w: this.param(step.kernel), dx, scratch: this.scratch }, shape);
          break;
        }
        case 'depthwise': {
          const shape = depthwiseShapeOf(step, batch);
          depthwiseBackwardFilter(gpu, { x, dy, dw: this.grad(step.kernel), scratch: this.scratch }, shape);
          if (needsInputGrad) depthwiseBackwardInput(gpu, { dy, w: this.param(step.kernel), dx }, shape);
          break;
        }
        case 'conv':
          if (needsInputGrad) throw new UnsupportedModelError(`${step.name}: the engine has no input gradient for a full convolution after the first layer.`);
          stemBackwardFilter(gpu, { x, dy, dw: this.grad(step.kernel), scratch: this.scratch }, conv2dShapeOf(step, batch));
          break;
      }
      dy = dx;
    }
  }

  private param(s: WeightSlot): Binding {
    return slice(this.params, s);
  }

  private grad(s: WeightSlot): Binding {
    return slice(this.grads, s);
  }

  private stateOf(s: WeightSlot): Binding {
    return slice(this.state, s);
  }

  destroy(): void {
    for (const buffer of [this.params, this.state, this.grads, this.m, this.v, this.input, this.bitmaps, this.draws, this.warped, this.labels, this.metrics, this.dLogits, this.gradA, this.gradB, this.scratch]) buffer.destroy();
    for (const layer of this.layers) {
      layer.out.destroy();
      layer.saved?.destroy();
      layer.grad?.destroy();
    }
  }
}

function slice(buffer: GPUBuffer, s: WeightSlot): Binding {
  return { buffer, offset: s.offset * 4, size: s.shape.reduce((a, b) => a * b, 1) * 4 };
}

function conv2dShapeOf(step: Extract<PlanStep, { kind: 'conv' }>, batch: number): StemShape {
  if (step.cin !== STEM_IN_CHANNELS) throw new UnsupportedModelError(`${step.name}: the engine's full convolution takes ${STEM_IN_CHANNELS} input channels, not ${step.cin}.`);
  const { inH, inW, outH, outW, stride, padTop, padLeft } = step;
  return { batch, inH, inW, outH, outW, stride, padTop, padLeft, outChannels: step.cout };
}

function depthwiseShapeOf(step: Extract<PlanStep, { kind: 'depthwise' }>, batch: number): DepthwiseShape {
  const { inH, inW, outH, outW, stride, padTop, padLeft, channels } = step;
  if (stride !== 1 && stride !== 2) throw new UnsupportedModelError(`${step.name}: stride ${stride}.`);
  return { batch, inH, inW, outH, outW, stride, padTop, padLeft, channels };
}

/** Floats one drawing's output of `step` takes. */
function outputsOf(step: PlanStep): number {
  switch (step.kind) {
    case 'conv': return step.outH * step.outW * step.cout;
    case 'depthwise': return step.outH * step.outW * step.channels;
    case 'pointwise': return step.rows * step.cout;
    case 'bn-relu6': case 'bn-linear': return step.pixels * step.channels;
    case 'add': return step.units;
    case 'pool': return step.channels;
    case 'dropout': return step.units;
    case 'dense': return step.units;
  }
}

/** Floats of scratch the step's kernels need at this batch size (one scratch buffer serves them in turn). */
function scratchOf(step: PlanStep, batch: number): number {
  switch (step.kind) {
    case 'conv': return stemFilterScratchLength(conv2dShapeOf(step, batch));
    case 'depthwise': return depthwiseFilterScratchLength(depthwiseShapeOf(step, batch));
    case 'pointwise': {
      const shape = { m: batch * step.rows, k: step.cin, n: step.cout };
      return Math.max(matmulScratchLength(shape), matmulScratchLength(backwardWeightsShape(shape)), matmulScratchLength(backwardInputShape(shape)));
    }
    case 'bn-relu6': case 'bn-linear': return normScratchLength({ rows: batch * step.pixels, channels: step.channels });
    case 'pool': case 'dropout': case 'add': return 0;
    case 'dense': {
      const shape = { m: batch, k: step.inputs, n: step.units };
      return Math.max(matmulScratchLength(shape), matmulScratchLength(backwardWeightsShape(shape)), matmulScratchLength(backwardInputShape(shape)), biasGradientScratchLength({ m: batch, n: step.units }));
    }
  }
}
