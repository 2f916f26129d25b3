// The engine's training step on the CPU: the same plan (plan.ts), flat params/state layout, math and surface as
// step.ts's EngineTrainer, on the WebAssembly SIMD kernels beside this file, so weights and Adam state move between
// the two paths unchanged: MobileNet v1, and v2 with its residual adds, linear BatchNormalization and Teachable
// Machine's dense ReLU head. Every buffer lives in the module's one memory, laid out once. On one thread, or on
// several through the threads build and a KernelPool (threads.ts, parallel.ts), with the same bits either way;
// runs in Node and in a worker (the caller supplies the .wasm bytes or module, and how to start threads).
import { applyAugmentation, type AugmentDraw } from '../../training/augment.ts';
import { adamCoefficients, dropoutMask } from '../head.ts';
import { UnsupportedModelError, type EnginePlan, type PlanStep, type WeightSlot } from '../plan.ts';
import type { EngineStepOptions, StepMetrics } from '../step.ts';
import { instantiateKernels, MemoryLayout, type EngineKernels } from './kernels.ts';
import { ParallelKernels, type Window } from './parallel.ts';
import { HELPER_STACK_BYTES, KernelPool, THREADS_INITIAL_PAGES, type ThreadedModule } from './threads.ts';
import { BITMAP_SIDE_PX } from '../../data/render.ts';

interface Layer {
  step: PlanStep;
  /** Byte offset of what the step writes (as in step.ts: a convolution's pre-normalization output, BN+ReLU6's activation, …). */
  out: number;
  /** BatchNormalization: the batch mean and 1/√(σ²+ε) its backward pass reads; dropout: its scaled mask. */
  saved: number;
  /**
   * A residual add: the gradient of its output, which the step after it writes here (not to the ping-pong buffers)
   * so it survives the backward pass of the block down to the skip's source, which adds it in (as in step.ts).
   */
  grad: number;
}

export class WasmEngineTrainer {
  private readonly params: number;
  private readonly state: number;
  private readonly grads: number;
  private readonly m: number;
  private readonly v: number;
  private readonly input: number;
  private readonly bitmaps: number;
  private readonly layers: Layer[];
  private readonly dLogits: number;
  /** Gradients with respect to activations, ping-ponged down the network (a kernel never writes what it reads). */
  private readonly gradA: number;
  private readonly gradB: number;
  private readonly scratch: number;
  /** Each thread's packing scratch for the matrix products (gemm.c), apart from `scratch`, which holds Wᵀ meanwhile. */
  private readonly pack: number;
  /** For each step that a residual add reads as its skip, those adds' indices (the input's, −1, needs no gradient). */
  private readonly skipsInto = new Map<number, number[]>();
  /** Loss and accuracy sums since the last `readMetrics` (the fields of head.ts's METRIC, kept here in double). */
  private metrics = { lossSum: 0, correct: 0, batches: 0, samples: 0 };
  private steps = 0;
  /** Bytes of the module's memory this trainer uses (weights, moments, activations, gradients, scratch). */
  readonly memoryBytes: number;
  /** The split kernels, on this thread alone until `create` starts the helpers. */
  private par: ParallelKernels;
  /** Threads the memory is laid out for (each has BatchNormalization scratch of its own). */
  private readonly threadCount: number;
  /** Where each helper thread's C stack ends (empty on one thread). */
  private readonly stackTops: number[] = [];
  /** Why the trainer runs on one thread though threads were offered, when their start failed. */
  threadFailure: string | null = null;

  /**
   * A trainer for `plan` at `options.batch`, on an instance of the engine's module of its own: the one-thread
   * build `wasm`, or with `threaded` (more than one thread) the threads build on a shared memory with that many
   * threads. Helpers that fail to start leave it on one thread, saying why in `threadFailure`.
   */
  static async create(wasm: BufferSource | WebAssembly.Module, plan: EnginePlan, options: EngineStepOptions, threaded?: ThreadedModule): Promise<WasmEngineTrainer> {
    if (threaded === undefined || threaded.threads <= 1) return new WasmEngineTrainer(await instantiateKernels(wasm), plan, options, 0);
    const memory = new WebAssembly.Memory({ initial: THREADS_INITIAL_PAGES, maximum: 65_536, shared: true });
    const kernels = await instantiateKernels(threaded.module, memory);
    const trainer = new WasmEngineTrainer(kernels, plan, options, threaded.threads - 1);
    try {
      trainer.par = new ParallelKernels(kernels, await KernelPool.start(threaded, kernels, memory, trainer.stackTops));
    } catch (error) {
      trainer.threadFailure = error instanceof Error ? error.message : String(error);
    }
    return trainer;
  }

  /** Side of the stored bitmaps this trainer takes (options.imageSizePx, else Quick, Draw!'s). */
  readonly imageSizePx: number;

  private constructor(private readonly k: EngineKernels, readonly plan: EnginePlan, readonly options: EngineStepOptions, helpers: number) {
    this.imageSizePx = options.imageSizePx ?? BITMAP_SIDE_PX;
    const { batch } = options;
    this.threadCount = helpers + 1;
    this.par = new ParallelKernels(k, null);
    const memory = new MemoryLayout(k);
    for (let i = 0; i < helpers; i++) this.stackTops.push(memory.floats(HELPER_STACK_BYTES / 4) + HELPER_STACK_BYTES);
    this.params = memory.floats(plan.paramCount);
    this.state = memory.floats(plan.stateCount);
    this.grads = memory.floats(plan.paramCount);
    this.m = memory.floats(plan.paramCount);
    this.v = memory.floats(plan.paramCount);
    this.input = memory.floats(batch * plan.inputSizePx ** 2 * plan.inputChannels);
    this.bitmaps = memory.floats(Math.ceil((batch * this.imageSizePx ** 2) / 4));
    let largest = 0, scratch = 0;
    this.layers = plan.steps.map((step) => {
      checkCovered(step);
      largest = Math.max(largest, batch * outputsOf(step));
      scratch = Math.max(scratch, this.scratchOf(step));
      const saved = step.kind === 'bn-relu6' || step.kind === 'bn-linear' ? memory.floats(2 * step.channels) : step.kind === 'dropout' ? memory.floats(batch * step.units) : 0;
      const grad = step.kind === 'add' ? memory.floats(batch * step.units) : 0;
      return { step, out: memory.floats(batch * outputsOf(step)), saved, grad };
    });
    plan.steps.forEach((step, i) => { if (step.kind === 'add') this.skipsInto.set(step.skip, [...this.skipsInto.get(step.skip) ?? [], i]); });
    if (this.dense.activation !== 'softmax') throw new UnsupportedModelError(`${this.dense.name}: the last layer must be the softmax one.`);
    this.dLogits = memory.floats(batch * this.dense.units);
    this.gradA = memory.floats(largest);
    this.gradB = memory.floats(largest);
    this.scratch = memory.floats(scratch);
    const columns = plan.steps.flatMap((step) => step.kind === 'pointwise' ? [step.cin, step.cout] : step.kind === 'dense' ? [step.inputs, step.units] : []);
    this.pack = memory.floats(this.threadCount * Math.max(...columns.map((n) => this.par.gemmPackFloats(n))));
    memory.grow();
    this.memoryBytes = memory.bytes;
  }

  private get dense(): Extract<PlanStep, { kind: 'dense' }> {
    const last = this.plan.steps.at(-1);
    if (last?.kind !== 'dense') throw new UnsupportedModelError('The plan does not end with a dense layer.');
    return last;
  }

  /** `floats` floats of the module's memory at byte offset `at` (a fresh view: memory growth detaches old ones). */
  private view(at: number, floats: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, at, floats);
  }

  /** Replaces the weights (and resets Adam's moments and step count, as a new tfjs optimizer would). */
  setWeights(params: Float32Array, state: Float32Array): void {
    this.view(this.params, this.plan.paramCount).set(params);
    this.view(this.state, this.plan.stateCount).set(state);
    this.view(this.m, this.plan.paramCount).fill(0);
    this.view(this.v, this.plan.paramCount).fill(0);
    this.steps = 0;
  }

  /** Adam's moments (in the params layout) and the number of updates made, as a checkpoint keeps them. */
  setAdamState(m: Float32Array, v: Float32Array, steps: number): void {
    this.view(this.m, this.plan.paramCount).set(m);
    this.view(this.v, this.plan.paramCount).set(v);
    this.steps = steps;
  }

  // The reads are async only to share EngineTrainer's surface; each returns a copy the caller owns.
  async readAdamState(): Promise<{ m: Float32Array; v: Float32Array; steps: number }> {
    return { m: this.view(this.m, this.plan.paramCount).slice(), v: this.view(this.v, this.plan.paramCount).slice(), steps: this.steps };
  }

  async readWeights(): Promise<{ params: Float32Array; state: Float32Array }> {
    return { params: this.view(this.params, this.plan.paramCount).slice(), state: this.view(this.state, this.plan.stateCount).slice() };
  }

  /** The parameter gradients of the latest step, in the params layout (for tests against tfjs). */
  async readGradients(): Promise<Float32Array> {
    return this.view(this.grads, this.plan.paramCount).slice();
  }

  /** Loss and accuracy summed over the steps since the last read, then starts new sums. */
  async readMetrics(): Promise<StepMetrics> {
    const { lossSum, correct, batches, samples } = this.metrics;
    this.metrics = { lossSum: 0, correct: 0, batches: 0, samples: 0 };
    return { lossSum, correct, samples, steps: batches };
  }

  /** Steps run to their end here: nothing is ever queued (EngineTrainer's surface). */
  async throttle(): Promise<void> {}

  /** Threads each kernel call is split among (1: this one alone). */
  get threads(): number {
    return this.par.threads;
  }

  /** Stops the helper threads; the module's memory goes with its instances once nothing refers to them. */
  destroy(): void {
    this.par.terminate();
  }

  /** One training step on `input` (count × size × size × 3, in [-1, 1]) and class-index `labels`, count ≤ batch. */
  step(input: Float32Array, labels: Uint32Array, learningRate: number, count = this.options.batch): void {
    this.checkCount(count);
    this.view(this.input, count * this.plan.inputSizePx ** 2 * this.plan.inputChannels).set(input.subarray(0, count * this.plan.inputSizePx ** 2 * this.plan.inputChannels));
    this.train(labels, learningRate, count);
  }

  /** The same step from stored bitmaps (count × imageSizePx², uint8), augmented by `draws` when given, preprocessed in the module. */
  stepBitmaps(bitmaps: Uint8Array, labels: Uint32Array, learningRate: number, count = this.options.batch, draws?: readonly AugmentDraw[]): void {
    this.checkCount(count);
    this.preprocess(draws === undefined ? bitmaps : applyAugmentation(bitmaps.subarray(0, count * this.imageSizePx ** 2), this.imageSizePx, draws), count);
    this.train(labels, learningRate, count);
  }

  /** Class probabilities for `count` (≤ batch) drawings, BatchNormalization on its moving statistics. */
  async predict(input: Float32Array, count: number): Promise<Float32Array> {
    this.checkCount(count);
    this.view(this.input, count * this.plan.inputSizePx ** 2 * this.plan.inputChannels).set(input.subarray(0, count * this.plan.inputSizePx ** 2 * this.plan.inputChannels));
    return this.probabilities(count);
  }

  async predictBitmaps(bitmaps: Uint8Array, count: number): Promise<Float32Array> {
    this.checkCount(count);
    this.preprocess(bitmaps, count);
    return this.probabilities(count);
  }

  private checkCount(count: number): void {
    if (count > this.options.batch) throw new Error(`The engine was sized for ${this.options.batch} drawings, not ${count}.`);
  }

  private preprocess(bitmaps: Uint8Array, count: number): void {
    const imageSizePx = this.imageSizePx;
    new Uint8Array(this.k.memory.buffer, this.bitmaps, count * imageSizePx ** 2).set(bitmaps.subarray(0, count * imageSizePx ** 2));
    this.par.preprocess(this.bitmaps, this.input, count, imageSizePx, this.plan.inputSizePx);
  }

  private train(labels: Uint32Array, learningRate: number, count: number): void {
    this.forward(count, true);
    this.crossEntropy(labels, count);
    this.backward(count);
    this.steps++;
    const c = adamCoefficients({ learningRate, step: this.steps });
    this.par.adam(this.params, this.grads, this.m, this.v, this.plan.paramCount, c.learningRate, c.beta1, c.beta2, c.oneMinusBeta1, c.oneMinusBeta2, c.epsilon, c.oneMinusAccBeta1, c.oneMinusAccBeta2);
  }

  /**
   * Softmax cross-entropy over a few classes, in double here rather than in the module: adds the batch's summed loss
   * and its correct argmax predictions (the first maximum wins, as in tf.argMax) to the metrics and writes
   * (softmax − target)/count to dLogits, the target one-hot or smoothed (EngineStepOptions.labelSmoothing).
   */
  private crossEntropy(labels: Uint32Array, count: number): void {
    const classes = this.dense.units;
    const logits = this.view(this.layers.at(-1)!.out, count * classes);
    const dLogits = this.view(this.dLogits, count * classes);
    // Targets (1 − ε)·one-hot + ε/classes, as head.ts's kernel: loss = log Σ exp − Σ target·(logit − top).
    const smoothing = this.options.labelSmoothing ?? 0, spread = smoothing / classes;
    let loss = 0, correct = 0;
    for (let n = 0; n < count; n++) {
      const label = labels[n]!;
      if (label >= classes) throw new Error(`Label ${label} is not one of the ${classes} classes.`);
      const row = logits.subarray(n * classes, (n + 1) * classes);
      let best = 0;
      for (let c = 1; c < classes; c++) if (row[c]! > row[best]!) best = c;
      const top = row[best]!;
      let total = 0;
      for (let c = 0; c < classes; c++) total += Math.exp(row[c]! - top);
      let mean = 0;
      if (smoothing > 0) for (let c = 0; c < classes; c++) mean += row[c]! - top;
      loss += Math.log(total) - (1 - smoothing) * (row[label]! - top) - spread * mean;
      if (best === label) correct++;
      for (let c = 0; c < classes; c++) dLogits[n * classes + c] = (Math.exp(row[c]! - top) / total - ((c === label ? 1 - smoothing : 0) + spread)) / count;
    }
    this.metrics.lossSum += loss;
    this.metrics.correct += correct;
    this.metrics.batches += 1;
    this.metrics.samples += count;
  }

  private probabilities(count: number): Float32Array {
    this.forward(count, false);
    const classes = this.dense.units;
    const out = this.view(this.layers.at(-1)!.out, count * classes).slice();
    for (let n = 0; n < count; n++) {
      const row = out.subarray(n * classes, (n + 1) * classes);
      const max = Math.max(...row);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += (row[c] = Math.exp(row[c]! - max));
      for (let c = 0; c < classes; c++) row[c]! /= sum;
    }
    return out;
  }

  private forward(batch: number, training: boolean): void {
    const { k, par } = this;
    const decay = 1 - this.options.momentum;
    let x = this.input;
    for (const { step, out, saved } of this.layers) {
      switch (step.kind) {
        case 'add': par.add(x, this.layers[step.skip]?.out ?? this.input, out, batch * step.units); break;
        case 'conv': par.stemForward(x, this.param(step.kernel), out, batch, windowOf(step), step.cout); break;
        case 'depthwise': par.depthwiseForward(x, this.param(step.kernel), out, batch, windowOf(step), step.channels); break;
        case 'pointwise': par.gemm(out, x, step.cin, 1, this.param(step.kernel), step.cout, batch * step.rows, step.cout, step.cin, this.pack); break;
        case 'bn-relu6': case 'bn-linear': {
          const [gamma, beta, mean, variance] = [this.param(step.gamma), this.param(step.beta), this.stateOf(step.movingMean), this.stateOf(step.movingVariance)];
          const rows = batch * step.pixels, relu6 = step.kind === 'bn-relu6';
          if (training) par.normForwardTraining(x, out, gamma, beta, saved, mean, variance, this.scratch, rows, step.channels, decay, step.epsilon, relu6);
          else par.normForwardInference(x, out, gamma, beta, mean, variance, rows, step.channels, step.epsilon, relu6);
          break;
        }
        case 'pool': k.pool_forward(x, out, batch, step.pixels, step.channels); break;
        case 'dropout': {
          // A few hundred floats a drawing: in JS, with the GPU kernel's hash, so both paths draw the same masks.
          const count = batch * step.units;
          const mask = this.view(saved, count);
          if (training) dropoutMask(mask, { count, rate: step.rate, seed: this.options.seed ?? 0, step: this.steps + 1 });
          else mask.fill(1);
          const input = this.view(x, count), output = this.view(out, count);
          for (let i = 0; i < count; i++) output[i] = input[i]! * mask[i]!;
          break;
        }
        case 'dense':
          par.gemm(out, x, step.inputs, 1, this.param(step.kernel), step.units, batch, step.units, step.inputs, this.pack);
          if (step.bias) k.add_bias(out, this.param(step.bias), batch, step.units);
          if (step.activation === 'relu') k.relu_forward(out, 0, batch * step.units);
          break;
      }
      x = out;
    }
  }

  private backward(batch: number): void {
    const { k, par } = this;
    // `dy` is the gradient of the current layer's output; each layer writes its input's gradient to the other
    // ping-pong buffer, or to the buffer of the residual add below it (step.ts's order).
    let dy = this.dLogits;
    const other = (buffer: number) => (buffer === this.gradA ? this.gradB : this.gradA);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const { step, saved, out } = this.layers[i]!;
      // Where this step's output also fed residual adds, their gradients join the chain's here.
      for (const j of this.skipsInto.get(i) ?? []) par.add(dy, this.layers[j]!.grad, dy, batch * outputsOf(step));
      const below = this.layers[i - 1];
      const x = below?.out ?? this.input;
      const needsInputGrad = i > 0;
      // Where this step writes its input's gradient: the add below's own buffer, else the ping-pong buffer `dy` is not.
      const inputGrad = (dy: number) => (below !== undefined && below.step.kind === 'add' ? below.grad : other(dy));
      let dx = inputGrad(dy);
      switch (step.kind) {
        // The add's gradient passes unchanged to the chain below it (and waits in its buffer for the skip's source).
        case 'add': dx = dy; break;
        case 'dense':
          if (step.activation === 'relu') {
            // Through the ReLU into the buffer dx would use; dx then takes dy's, which is no longer needed.
            const dz = dx;
            k.relu_backward(dy, out, dz, 0, batch * step.units);
            [dy, dx] = [dz, inputGrad(dz)];
          }
          if (step.bias) k.column_sum(dy, this.grad(step.bias), batch, step.units);
          this.matmulBackward(x, dy, dx, step.kernel, batch, step.inputs, step.units, needsInputGrad);
          break;
        case 'pool': if (needsInputGrad) k.pool_backward(dy, dx, batch, step.pixels, step.channels); break;
        case 'dropout':
          if (needsInputGrad) {
            const count = batch * step.units;
            const [gradient, mask, input] = [this.view(dy, count), this.view(saved, count), this.view(dx, count)];
            for (let i = 0; i < count; i++) input[i] = gradient[i]! * mask[i]!;
          }
          break;
        case 'bn-relu6': case 'bn-linear':
          par.normBackward(x, dy, this.param(step.gamma), this.param(step.beta), saved, dx, this.grad(step.gamma), this.grad(step.beta), this.scratch, batch * step.pixels, step.channels, step.kind === 'bn-relu6');
          break;
        case 'pointwise': this.matmulBackward(x, dy, dx, step.kernel, batch * step.rows, step.cin, step.cout, needsInputGrad); break;
        case 'depthwise':
          par.depthwiseBackwardFilter(x, dy, this.grad(step.kernel), batch, windowOf(step), step.channels, this.scratch);
          if (needsInputGrad) par.depthwiseBackwardInput(dy, this.param(step.kernel), dx, batch, windowOf(step), step.channels);
          break;
        case 'conv':
          if (needsInputGrad) throw new UnsupportedModelError(`${step.name}: the engine has no input gradient for a full convolution after the first layer.`);
          par.stemBackwardFilter(x, dy, this.grad(step.kernel), batch, windowOf(step), step.cout, this.scratch);
          break;
      }
      dy = dx;
    }
  }

  /** Y[m×n] = X[m×k]·W[k×n]: dW = Xᵀ·dY, and dX = dY·Wᵀ through Wᵀ transposed into the scratch. */
  private matmulBackward(x: number, dy: number, dx: number, kernel: WeightSlot, m: number, k: number, n: number, needsInputGrad: boolean): void {
    this.par.gemm(this.grad(kernel), x, 1, k, dy, n, k, n, m, this.pack);
    if (!needsInputGrad) return;
    this.k.transpose(this.param(kernel), this.scratch, k, n);
    this.par.gemm(dx, dy, n, 1, this.scratch, k, m, k, n, this.pack);
  }

  /** Floats of scratch the step's kernels need (one scratch buffer serves them in turn). */
  private scratchOf(step: PlanStep): number {
    switch (step.kind) {
      // The filter gradients' per-drawing sums.
      case 'conv': return this.options.batch * 27 * step.cout;
      case 'depthwise': return this.options.batch * 9 * step.channels;
      case 'pointwise': return step.cin * step.cout;
      case 'bn-relu6': case 'bn-linear': return this.par.normScratchFloats(this.options.batch * step.pixels, step.channels);
      case 'pool': case 'dropout': case 'add': return 0;
      case 'dense': return step.inputs * step.units;
    }
  }

  private param(s: WeightSlot): number {
    return this.params + s.offset * 4;
  }

  private grad(s: WeightSlot): number {
    return this.grads + s.offset * 4;
  }

  private stateOf(s: WeightSlot): number {
    return this.state + s.offset * 4;
  }
}

/** The window kernels' shape arguments after `batch`, in the C signatures' order. */
function windowOf(step: Extract<PlanStep, { kind: 'conv' | 'depthwise' }>): Window {
  return [step.inH, step.inW, step.outH, step.outW, step.stride, step.padTop, step.padLeft];
}

/**
 * The kernels run channels four at a time (every MobileNet v1 width is a multiple of 8, and every v2 width of
 * Teachable Machine's α=0.35 a multiple of 8 too); the stem takes RGB.
 */
function checkCovered(step: PlanStep): void {
  const channels = step.kind === 'conv' ? step.cout : step.kind === 'depthwise' || step.kind === 'bn-relu6' || step.kind === 'bn-linear' || step.kind === 'pool' ? step.channels : 4;
  if (channels % 4 !== 0) throw new UnsupportedModelError(`${'name' in step ? step.name : step.kind}: the engine's CPU kernels take channel counts that are multiples of 4, not ${channels}.`);
  if (step.kind === 'conv' && step.cin !== 3) throw new UnsupportedModelError(`${step.name}: the engine's full convolution takes 3 input channels, not ${step.cin}.`);
}

/** Floats one drawing's output of `step` takes. */
function outputsOf(step: PlanStep): number {
  switch (step.kind) {
    case 'conv': return step.outH * step.outW * step.cout;
    case 'depthwise': return step.outH * step.outW * step.channels;
    case 'pointwise': return step.rows * step.cout;
    case 'bn-relu6': return step.pixels * step.channels;
    case 'pool': return step.channels;
    case 'dropout': case 'add': return step.units;
    case 'bn-linear': return step.pixels * step.channels;
    case 'dense': return step.units;
  }
}
