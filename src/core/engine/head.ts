// The classifier head's kernels and the optimizer: global average pooling (forward, backward), softmax
// cross-entropy over class-index labels with on-device loss and accuracy sums, and tf.train.adam's update over one
// flat parameter buffer. Records dispatches on a GpuContext (gpu.ts); any thread with WebGPU.
import { FLAT_INDEX, FLAT_SIZE, flatGrid } from './flat-grid.ts';
import { groups, type Binding, type GpuContext } from './gpu.ts';

export interface PoolShape {
  batch: number;
  /** H·W of the pooled activations. */
  positions: number;
  channels: number;
}

const POOL_HEADER = /* wgsl */ `
struct Params { batch: u32, positions: u32, channels: u32 }`;

// One invocation per (sample, channel): neighbouring invocations read neighbouring channels of a position.
const POOL_FORWARD = /* wgsl */ `${POOL_HEADER}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= p.batch * p.channels) { return; }
  let n = id.x / p.channels;
  let c = id.x % p.channels;
  var s = 0.0;
  for (var q = 0u; q < p.positions; q++) { s += x[(n * p.positions + q) * p.channels + c]; }
  y[id.x] = s / f32(p.positions);
}`;

const POOL_BACKWARD = /* wgsl */ `${POOL_HEADER}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= p.batch * p.positions * p.channels) { return; }
  let c = i % p.channels;
  let sample = i / (p.positions * p.channels);
  dx[i] = dy[sample * p.channels + c] / f32(p.positions);
}`;

/** y[n, c] = mean over H·W of x[n, h, w, c] (NHWC in, [batch, channels] out): 1 dispatch. */
export function poolForward(gpu: GpuContext, b: { x: Binding; y: Binding }, shape: PoolShape): void {
  const p = new Uint32Array([shape.batch, shape.positions, shape.channels]);
  gpu.dispatch(POOL_FORWARD, [b.x, b.y], [groups(shape.batch * shape.channels, 64)], p);
}

/** dx[n, h, w, c] = dy[n, c] / (H·W): 1 dispatch. */
export function poolBackward(gpu: GpuContext, b: { dy: Binding; dx: Binding }, shape: PoolShape): void {
  const p = new Uint32Array([shape.batch, shape.positions, shape.channels]);
  gpu.dispatch(POOL_BACKWARD, [b.dy, b.dx], flatGrid(shape.batch * shape.positions * shape.channels), p);
}

/** Floats of the metrics buffer softmaxCrossEntropy adds to; write zeros to start a new tally. */
export const METRICS_LENGTH = 4;
/** What each float of the metrics buffer sums since it was last zeroed (lossSum: every drawing's loss). */
export const METRIC = { lossSum: 0, correct: 1, batches: 2, samples: 3 } as const;

const CE_SIZE = 256;

// One workgroup: a batch is at most a few thousand rows of a few hundred classes, and a single group can add its
// totals to the metrics without atomics (WGSL has no float atomics) and without a second dispatch.
function crossEntropy(backward: boolean): string {
  return /* wgsl */ `
struct Params { batch: u32, classes: u32, smoothing: f32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> metrics: array<f32>;
${backward ? '@group(0) @binding(3) var<storage, read_write> dLogits: array<f32>;' : ''}
@group(0) @binding(${backward ? 4 : 3}) var<uniform> p: Params;
var<workgroup> acc: array<vec2<f32>, ${CE_SIZE}>;
@compute @workgroup_size(${CE_SIZE}) fn main(@builtin(local_invocation_index) t: u32) {
  var s = vec2<f32>(0.0);
  for (var n = t; n < p.batch; n += ${CE_SIZE}u) {
    let row = n * p.classes;
    // The first maximum wins, as in tf.argMax.
    var top = logits[row];
    var best = 0u;
    for (var k = 1u; k < p.classes; k++) {
      if (logits[row + k] > top) { top = logits[row + k]; best = k; }
    }
    var total = 0.0;
    for (var k = 0u; k < p.classes; k++) { total += exp(logits[row + k] - top); }
    let label = labels[n];
    // Targets (1 − ε)·one-hot + ε/classes: loss = log Σ exp − Σ target·(logit − top).
    let spread = p.smoothing / f32(p.classes);
    var mean = 0.0;
    if (p.smoothing > 0.0) {
      for (var k = 0u; k < p.classes; k++) { mean += logits[row + k] - top; }
    }
    s += vec2<f32>(log(total) - (1.0 - p.smoothing) * (logits[row + label] - top) - spread * mean, select(0.0, 1.0, best == label));
    ${backward ? `for (var k = 0u; k < p.classes; k++) {
      let goal = select(0.0, 1.0 - p.smoothing, k == label) + spread;
      dLogits[row + k] = (exp(logits[row + k] - top) / total - goal) / f32(p.batch);
    }` : ''}
  }
  acc[t] = s;
  workgroupBarrier();
  for (var stride = ${CE_SIZE / 2}u; stride > 0u; stride /= 2u) {
    if (t < stride) { acc[t] += acc[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    metrics[0] += acc[0].x;
    metrics[1] += acc[0].y;
    metrics[2] += 1.0;
    metrics[3] += f32(p.batch);
  }
}`;
}

const CE_FORWARD = crossEntropy(false);
const CE_FORWARD_BACKWARD = crossEntropy(true);

/**
 * Softmax cross-entropy of `logits` [batch, classes] against `labels` (u32 class indices): adds the batch's summed
 * loss, its correct argmax predictions, 1 and the batch size to `metrics` (METRIC), so loss and accuracy are read
 * only when wanted. With `dLogits`, also writes (softmax − target)/batch there, the target one-hot or smoothed by
 * `labelSmoothing`. 1 dispatch either way.
 */
export function softmaxCrossEntropy(
  gpu: GpuContext,
  b: { logits: Binding; labels: Binding; metrics: Binding; dLogits?: Binding },
  shape: { batch: number; classes: number; labelSmoothing?: number },
): void {
  const p = new Uint32Array([shape.batch, shape.classes, 0]);
  new Float32Array(p.buffer).set([shape.labelSmoothing ?? 0], 2);
  if (b.dLogits === undefined) gpu.dispatch(CE_FORWARD, [b.logits, b.labels, b.metrics], [1], p);
  else gpu.dispatch(CE_FORWARD_BACKWARD, [b.logits, b.labels, b.metrics, b.dLogits], [1], p);
}

export interface DropoutOptions {
  /** Floats of the activation. */
  count: number;
  /** The fraction dropped; 0 passes everything through unchanged (prediction). */
  rate: number;
  /** With `step`, picks the mask: the same seed and step give the same mask (so a resumed run repeats it). */
  seed: number;
  step: number;
}

// Keeps an element when a hash of (seed, step, index) is at least `rate` of the u32 range, scaling kept values by
// 1/(1 − rate) as tf.dropout does (its random stream is its own, so masks differ from tfjs's; the statistics match).
// The scaled mask is kept for the backward pass: dx = dy · mask.
const DROPOUT_FORWARD = /* wgsl */ `
struct Params { count: u32, threshold: u32, seed: u32, step: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mask: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${FLAT_INDEX}
// PCG's output permutation as a hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= p.count) { return; }
  let keep = pcg(pcg(p.seed ^ pcg(p.step)) + i) >= p.threshold;
  let m = select(0.0, p.scale, keep);
  mask[i] = m;
  y[i] = x[i] * m;
}`;

const MULTIPLY = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> count: u32;
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= count) { return; }
  out[i] = a[i] * b[i];
}`;

/** The u32 below which an element is dropped, for `rate` (the kernel's comparison; dropoutKeeps mirrors it). */
function dropoutThreshold(rate: number): number {
  return Math.min(0xffffffff, Math.round(rate * 2 ** 32));
}

/** DROPOUT_FORWARD's PCG hash in u32 arithmetic, for the engine's CPU path. */
function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The mask DROPOUT_FORWARD draws for (seed, step), as 1/(1 − rate) or 0 per element: the CPU path's, equal to the GPU's. */
export function dropoutMask(out: Float32Array, { count, rate, seed, step }: DropoutOptions): void {
  const threshold = dropoutThreshold(rate);
  const scale = Math.fround(1 / (1 - rate));
  const base = pcg((seed ^ pcg(step >>> 0)) >>> 0);
  for (let i = 0; i < count; i++) out[i] = pcg((base + i) >>> 0) >= threshold ? scale : 0;
}

/** y = x · mask, the mask drawn from (seed, step) and written for dropoutBackward: 1 dispatch. */
export function dropoutForward(gpu: GpuContext, b: { x: Binding; y: Binding; mask: Binding }, { count, rate, seed, step }: DropoutOptions): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`A dropout rate is in [0, 1), not ${rate}.`);
  const words = new Uint32Array(5);
  words.set([count, dropoutThreshold(rate), seed >>> 0, step >>> 0]);
  new Float32Array(words.buffer, 16, 1)[0] = 1 / (1 - rate);
  gpu.dispatch(DROPOUT_FORWARD, [b.x, b.y, b.mask], flatGrid(count), words);
}

/** dx = dy · mask (the scaled mask of the forward pass): 1 dispatch. */
export function dropoutBackward(gpu: GpuContext, b: { dy: Binding; mask: Binding; dx: Binding }, count: number): void {
  gpu.dispatch(MULTIPLY, [b.dy, b.mask, b.dx], flatGrid(count), Uint32Array.of(count));
}

export interface AdamOptions {
  learningRate: number;
  /** 1 for the first update, as tfjs's optimizer counts. */
  step: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

// The statement order of tfjs-core's AdamOptimizer.applyGradients, so rounding matches it: m and v move by
// (1 − β) computed in double and used as f32, the bias corrections divide by 1 − β^t, ε is added to √v̂ (not
// inside the root), and the step is added as (m̂/(√v̂ + ε))·(−lr) + θ.
const ADAM = /* wgsl */ `
struct Params {
  count: u32, step: u32, learningRate: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32,
  epsilon: f32, oneMinusAccBeta1: f32, oneMinusAccBeta2: f32,
}
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= p.count) { return; }
  let grad = grads[i];
  let m1 = m[i] * p.beta1 + grad * p.oneMinusBeta1;
  let v1 = v[i] * p.beta2 + (grad * grad) * p.oneMinusBeta2;
  m[i] = m1;
  v[i] = v1;
  let mHat = m1 / p.oneMinusAccBeta1;
  let vHat = v1 / p.oneMinusAccBeta2;
  params[i] = (mHat / (sqrt(vHat) + p.epsilon)) * -p.learningRate + params[i];
}`;

/** What one Adam update multiplies and divides by, each as the f32 tfjs uses (shared by the WebGPU and WASM paths). */
export interface AdamCoefficients {
  learningRate: number;
  beta1: number;
  beta2: number;
  oneMinusBeta1: number;
  oneMinusBeta2: number;
  epsilon: number;
  /** 1 − β1^t and 1 − β2^t, the bias corrections of update `step`. */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
}

/** tf.train.adam's coefficients for update `step`; defaults are its own: β1 0.9, β2 0.999, ε 1e-7. */
export function adamCoefficients({ learningRate, step, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7 }: AdamOptions): AdamCoefficients {
  // tfjs keeps β^t in an f32 variable that starts at β and is multiplied by β after every update; replaying that
  // product in f32 gives the very bias corrections it uses (Math.pow in double differs in the last bits).
  let accBeta1 = Math.fround(beta1);
  let accBeta2 = Math.fround(beta2);
  for (let t = 1; t < step; t++) {
    accBeta1 = Math.fround(accBeta1 * Math.fround(beta1));
    accBeta2 = Math.fround(accBeta2 * Math.fround(beta2));
  }
  return {
    learningRate, beta1, beta2, oneMinusBeta1: 1 - beta1, oneMinusBeta2: 1 - beta2, epsilon,
    oneMinusAccBeta1: Math.fround(1 - accBeta1), oneMinusAccBeta2: Math.fround(1 - accBeta2),
  };
}

/**
 * One Adam update of `count` parameters in place, with their gradients and moment buffers (all the same length,
 * m and v zeroed before step 1): 1 dispatch.
 */
export function adamStep(
  gpu: GpuContext,
  b: { params: Binding; grads: Binding; m: Binding; v: Binding },
  count: number,
  options: AdamOptions,
): void {
  const k = adamCoefficients(options);
  const words = new Uint32Array(10);
  words.set([count, options.step]);
  new Float32Array(words.buffer, 8).set([
    k.learningRate, k.beta1, k.beta2, k.oneMinusBeta1, k.oneMinusBeta2, k.epsilon, k.oneMinusAccBeta1, k.oneMinusAccBeta2,
  ]);
  gpu.dispatch(ADAM, [b.params, b.grads, b.m, b.v], flatGrid(count), words);
}
