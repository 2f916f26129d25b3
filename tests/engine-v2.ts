// MobileNet v2 as both engines' tests meet it (the WebGPU engine in Chromium, the WebAssembly one in Node): a small
// v2 made here with every v2 construct, the Teachable Machine backbone split as the app splits it, one engine step
// compared with tfjs's (CPU, and WASM for how far two correct f32 chains drift), and the checks of those steps —
// the real backbone's linear normalizations leave some β gradients at rounding noise. Both tfjs backends must be
// registered by the caller (the WASM one with the app's training kernels).
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { packWeights, planMobileNetV1, unpackWeights, type EnginePlan } from '../src/core/engine/plan.ts';
import type { StepMetrics } from '../src/core/engine/step.ts';
import { FINE_TUNE_BN_MOMENTUM, loadBackbone, preprocess, splitBackbone, type SplitModel } from '../src/core/training/mobilenet.ts';
import { Random } from '../src/core/training/random.ts';
import { teachableBackboneArtifacts, type TeachableMachineFiles } from '../datasets/teachable-machine.ts';
import { expectWeightAfterStep, relativeError, sketches, tfjsGradients, TOLERANCE, uniform } from './engine-reference.ts';

export interface StepResult {
  plan: EnginePlan;
  dispatches: number;
  /** The engine's loss against tfjs's, relative. */
  lossError: number;
  /** By Keras name: tfjs CPU's gradient, the engine's, tfjs WASM's. */
  gradients: Map<string, { cpu: Float32Array; engine: Float32Array; wasm: Float32Array }>;
  /** By Keras name, after the step: tfjs's value, the engine's, before the step, and whether Adam trains it. */
  weights: Map<string, { tfjs: Float32Array; engine: Float32Array; before: Float32Array; trainable: boolean }>;
}

/** What an engine reports of its one step, for `compareStep`. */
export interface EngineStep {
  metrics: StepMetrics;
  /** In the plan's params layout. */
  gradients: Float32Array;
  params: Float32Array;
  state: Float32Array;
  /** GPU dispatches the step took (0 on the CPU). */
  dispatches: number;
}

/** tfjs's gradients of one training call of a model `build` makes afresh (the same weights), on `backend`. */
async function gradientsOn(backend: 'cpu' | 'wasm', build: () => Promise<tf.LayersModel>, x: tf.Tensor, y: tf.Tensor) {
  await tf.setBackend(backend);
  const model = await build();
  const result = await tfjsGradients(model, x, y);
  model.dispose();
  await tf.setBackend('cpu');
  return result;
}

/**
 * One step of the model `build` makes (afresh each call, the same weights) on tfjs CPU as the Trainer takes it
 * (compile, trainOnBatch with tf.train.adam), on tfjs WASM (gradients), and through `engineStep`, which gets the
 * plan and the packed starting weights; the current backend must be 'cpu'.
 */
export async function compareStep(
  build: () => Promise<tf.LayersModel>, x: tf.Tensor, labels: Uint32Array, classes: number, learningRate: number,
  engineStep: (plan: EnginePlan, start: { params: Float32Array; state: Float32Array }) => Promise<EngineStep>,
): Promise<StepResult> {
  const y = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes);
  const wasm = await gradientsOn('wasm', build, x, y);
  const cpu = await gradientsOn('cpu', build, x, y);
  const model = await build();
  const plan = planMobileNetV1(model, classes);
  const before = await packWeights(plan, model);
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy' });
  expect(await model.trainOnBatch(x, y) as number).toBeCloseTo(cpu.loss, 5);
  const engine = await engineStep(plan, before);
  expect(engine.metrics.steps).toBe(1);
  const engineGrads = unpackWeights(plan, engine.gradients, new Float32Array(plan.stateCount));
  const after = unpackWeights(plan, engine.params, engine.state);
  const initial = unpackWeights(plan, before.params, before.state);
  expect(cpu.grads.size).toBe(plan.params.length);
  const gradients = new Map([...cpu.grads].map(([name, expected]) => [name, { cpu: expected, engine: engineGrads.get(name)!.values, wasm: wasm.grads.get(name)! }]));
  const weights = new Map(await Promise.all(model.weights.map(async (w) => [w.originalName, {
    tfjs: await w.read().data() as Float32Array, engine: after.get(w.originalName)!.values, before: initial.get(w.originalName)!.values, trainable: w.trainable,
  }] as const)));
  model.dispose();
  y.dispose();
  const { lossSum, samples } = engine.metrics;
  return { plan, dispatches: engine.dispatches, lossError: Math.abs(lossSum / samples - cpu.loss) / cpu.loss, gradients, weights };
}

/**
 * Checks a step of the small v2 (a short chain on random data: held to a single kernel's bound, gradients and
 * weights alike); returns the worst errors, in words.
 */
export function expectSmallV2Step(result: StepResult): string {
  expect(result.plan.steps.map((s) => s.kind).filter((k) => k === 'add' || k === 'bn-linear' || k === 'dense'))
    .toEqual(['bn-linear', 'bn-linear', 'add', 'bn-linear', 'add', 'dense', 'dense']);
  expect(result.lossError).toBeLessThan(TOLERANCE);
  const worst = { gradient: 0, wasm: 0, weight: 0, state: 0 };
  for (const [name, g] of result.gradients) {
    const error = relativeError(g.engine, g.cpu);
    [worst.gradient, worst.wasm] = [Math.max(worst.gradient, error), Math.max(worst.wasm, relativeError(g.wasm, g.cpu))];
    expect(error, `gradient of ${name}`).toBeLessThan(TOLERANCE);
  }
  for (const [name, w] of result.weights) {
    const error = relativeError(w.engine, w.tfjs);
    worst[w.trainable ? 'weight' : 'state'] = Math.max(worst[w.trainable ? 'weight' : 'state'], error);
    expect(error, `${name} after the step`).toBeLessThan(TOLERANCE);
  }
  const e = (v: number) => v.toExponential(2);
  return `loss ${e(result.lossError)} from tfjs; worst relative error: gradients ${e(worst.gradient)} (tfjs WASM against CPU: ${e(worst.wasm)}), weights ${e(worst.weight)}, moving statistics ${e(worst.state)}`;
}

/** The Teachable Machine backbone rebuilt at `size` px, split as the app splits it (the last `blocks` trained). */
export async function teachableSplit(files: TeachableMachineFiles, size: number, blocks: number, classes: number): Promise<SplitModel> {
  const backbone = await loadBackbone(tf.io.fromMemory(teachableBackboneArtifacts(files)), size);
  return splitBackbone(backbone, blocks, { numClasses: classes, dropoutRate: 0, seed: 1 });
}

/**
 * One step of the Teachable Machine backbone's last 3 blocks at `size` px on cached features (the app cuts at
 * block_14_add, so block_15's add reads the features themselves), taken by `step` and held to a kernel's bound;
 * returns the step and the worst errors, in words.
 */
export async function cachedFeaturesStep(
  files: TeachableMachineFiles, size: number, classes: number, learningRate: number,
  step: (build: () => Promise<tf.LayersModel>, x: tf.Tensor, labels: Uint32Array) => Promise<StepResult>,
): Promise<{ result: StepResult; worst: string }> {
  const split = await teachableSplit(files, size, 3, classes);
  expect(split.cutLayer).toBe('block_14_add');
  const x = tf.tidy(() => split.frozen!.predict(preprocess(sketches(4, new Random(6)), 28, size)) as tf.Tensor);
  split.trainable.dispose();
  const result = await step(async () => (await teachableSplit(files, size, 3, classes)).trainable, x, Uint32Array.from({ length: 4 }, (_, i) => (i + 1) % classes));
  x.dispose();
  expect(result.plan.steps.find((s) => s.kind === 'add')).toMatchObject({ name: 'block_15_add', skip: -1 });
  return { result, worst: expectTeachableStep(result, 2, { gradient: TOLERANCE, belowWasm: false }, learningRate) };
}

/**
 * A small v2: a ZeroPadding2D stem, a stride-2 block with no residual, two stride-1 blocks with residual adds (the
 * second adding onto the first's add), and Teachable Machine's head (pooling, dense ReLU, dense softmax without
 * bias), with random BatchNormalization weights and statistics; the blocks project to `projectChannels`. The same
 * weights on every call.
 */
export async function smallV2(classes: number, projectChannels: number): Promise<tf.LayersModel> {
  let seed = 1;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  // Names of their own: tfjs numbers unnamed layers across models, and weights are matched by name.
  let layers = 0;
  const name = () => `small_v2_${layers++}`;
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides = 1, padding: 'same' | 'valid' = 'same') =>
    tf.layers.conv2d({ name: name(), filters, kernelSize, strides, padding, useBias: false, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  const depthwise = (x: tf.SymbolicTensor, strides = 1) =>
    tf.layers.depthwiseConv2d({ name: name(), kernelSize: 3, strides, padding: strides === 1 ? 'same' : 'valid', useBias: false, depthwiseInitializer: init() }).apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, relu6: boolean) => {
    const normalized = tf.layers.batchNormalization({ name: name(), epsilon: 1e-3, momentum: FINE_TUNE_BN_MOMENTUM }).apply(x) as tf.SymbolicTensor;
    return relu6 ? tf.layers.reLU({ maxValue: 6 }).apply(normalized) as tf.SymbolicTensor : normalized;
  };
  const pad = (x: tf.SymbolicTensor) => tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(x) as tf.SymbolicTensor;
  const block = (x: tf.SymbolicTensor, expand: number, out: number, strides: number) => {
    const expanded = bn(conv(x, expand, 1), true);
    const filtered = bn(depthwise(strides === 2 ? pad(expanded) : expanded, strides), true);
    return bn(conv(filtered, out, 1), false);
  };
  const input = tf.input({ shape: [16, 16, 3] });
  const stem = bn(conv(pad(input), 8, 3, 2, 'valid'), true);
  const first = block(stem, 16, projectChannels, 2);
  const second = tf.layers.add().apply([first, block(first, 12, projectChannels, 1)]) as tf.SymbolicTensor;
  const third = tf.layers.add().apply([second, block(second, 12, projectChannels, 1)]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(third) as tf.SymbolicTensor;
  const hidden = tf.layers.dense({ name: name(), units: 10, activation: 'relu', kernelInitializer: init(), biasInitializer: 'ones' }).apply(pooled) as tf.SymbolicTensor;
  const output = tf.layers.dense({ name: name(), units: classes, activation: 'softmax', useBias: false, kernelInitializer: init() }).apply(hidden) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  const random = new Random(3);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const channels = layer.getWeights()[0]!.shape[0]!;
    const [gamma, beta, mean] = [uniform(random, channels, 0.5, 1), uniform(random, channels, 0.5), uniform(random, channels, 0.3)];
    const variance = Float32Array.from({ length: channels }, () => 0.5 + random.next());
    layer.setWeights([gamma, beta, mean, variance].map((values) => tf.tensor1d(values)));
  }
  return model;
}

/**
 * Checks a step of (part of) the Teachable Machine backbone against tfjs; returns the worst errors, in words.
 *
 * Every linear (project) BatchNormalization feeds only 1×1 convolutions followed by BatchNormalization (the next
 * block's expand, the last block's Conv_1), directly or through adds, and a normalization removes any shift of its
 * input: those β (`shiftFree` of them) get a gradient of exactly 0 in exact arithmetic. Both tfjs backends and the
 * engine give rounding noise there (1e-8–1e-6 against γ gradients of 0.1–50; WASM and CPU differ by up to 24× its
 * size), and Adam turns noise into ±lr steps. So those β are checked for being noise-sized, and for moving as Adam
 * moves them from the engine's own gradient, instead of against tfjs's noise. Every other weight's move is checked
 * both ways (engine-reference.ts expectWeightAfterStep).
 */
export function expectTeachableStep(result: StepResult, shiftFree: number, bounds: { gradient: number; belowWasm: boolean }, learningRate: number): string {
  expect(result.lossError).toBeLessThan(TOLERANCE);
  const betas = new Map(result.plan.steps.flatMap((s) => (s.kind === 'bn-linear' ? [[s.beta.name, s.gamma.name] as const] : [])));
  expect(betas.size).toBe(shiftFree);
  const largest = (values: Float32Array) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = { gradient: 0, wasm: 0, ownMove: 0, referenceMove: 0, state: 0, noise: 0 };
  for (const [name, g] of result.gradients) {
    const gammaName = betas.get(name);
    if (gammaName !== undefined) {
      const noise = largest(g.engine) / largest(result.gradients.get(gammaName)!.cpu);
      worst.noise = Math.max(worst.noise, noise);
      expect(noise, `gradient of ${name}, against its layer's γ gradient`).toBeLessThan(TOLERANCE);
      continue;
    }
    const error = relativeError(g.engine, g.cpu);
    worst.gradient = Math.max(worst.gradient, error);
    worst.wasm = Math.max(worst.wasm, relativeError(g.wasm, g.cpu));
    expect(error, `gradient of ${name}`).toBeLessThan(bounds.gradient);
  }
  if (bounds.belowWasm) expect(worst.gradient).toBeLessThan(worst.wasm);
  for (const [name, w] of result.weights) {
    const g = result.gradients.get(name);
    // The shift-free β move only as Adam moves them from the engine's own gradient: tfjs's is noise there.
    expectWeightAfterStep(name, w, g && { engine: g.engine, tfjs: g.cpu }, learningRate, bounds.gradient, worst, betas.has(name));
  }
  const e = (v: number) => v.toExponential(2);
  return `loss ${e(result.lossError)} from tfjs; worst relative error: gradients ${e(worst.gradient)} (tfjs WASM against CPU: ${e(worst.wasm)}), shift-free β gradients ${e(worst.noise)} of their γ's, moving statistics ${e(worst.state)}; worst moves in lr: against tfjs's ${e(worst.referenceMove)}, against Adam's from the engine's gradient ${e(worst.ownMove)}`;
}
