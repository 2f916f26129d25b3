// BatchNormalization fused with ReLU6 (or with no activation: MobileNet v2's linear projections) over NHWC
// activations seen as a [rows = N·H·W, channels] matrix: training forward (batch statistics, moving averages updated
// in place), inference forward, and backward. Records dispatches on a GpuContext (gpu.ts); any thread with WebGPU.
// Matches tfjs-layers' BatchNormalization (+ tf.relu6).
import { FLAT_INDEX, FLAT_SIZE, flatGrid } from './flat-grid.ts';
import { groups, type Binding, type GpuContext } from './gpu.ts';

/** Keras' BatchNormalization epsilon, the value MobileNet v1 was built with. */
export const BN_EPSILON = 1e-3;

/** What follows the normalization: ReLU6 (every v1 layer, v2's expand and depthwise) or nothing (v2's project). */
export type NormActivation = 'relu6' | 'linear';

/** The activation as WGSL: `clamp` of a pre-activation v, and `passes` saying where its gradient flows at z. */
const ACTIVATION_WGSL: Record<NormActivation, { clamp: string; passes: string }> = {
  relu6: { clamp: 'min(max(v, 0.0), 6.0)', passes: 'z > 0.0 && z <= 6.0' },
  linear: { clamp: 'v', passes: 'true' },
};

export interface NormShape {
  /** N·H·W: the positions each channel's statistics are taken over. */
  rows: number;
  channels: number;
}

/** γ and β of one BatchNormalization layer, `channels` floats each. */
export interface NormWeights {
  gamma: Binding;
  beta: Binding;
}

// Column reductions run on CHANNEL_LANES × ROW_LANES workgroups: adjacent invocations read adjacent channels of a
// row (coalesced), and each row lane walks its own rows of the workgroup's chunk.
const CHANNEL_LANES = 16;
const ROW_LANES = 16;
const MIN_ROWS_PER_CHUNK = 64;
const MAX_CHUNKS = 256;

function chunking(rows: number): { chunks: number; rowsPerChunk: number } {
  const rowsPerChunk = Math.max(MIN_ROWS_PER_CHUNK, Math.ceil(rows / MAX_CHUNKS));
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

/** Floats of the scratch buffer the training forward and backward passes need for their partial sums. */
export function normScratchLength({ rows, channels }: NormShape): number {
  const { chunks } = chunking(rows);
  // Backward keeps two partial sums a chunk and then both totals after them; forward three a chunk.
  return Math.max(chunks * channels * 3, (chunks + 1) * channels * 2);
}

/** Floats of the `saved` buffer: the batch mean, then 1/√(σ² + ε), per channel. */
export function normSavedLength({ channels }: NormShape): number {
  return 2 * channels;
}

function params({ rows, channels }: NormShape, momentum = 0): Uint32Array {
  const { chunks, rowsPerChunk } = chunking(rows);
  const words = new Uint32Array([rows, channels, chunks, rowsPerChunk, 0, 0]);
  // tfjs-layers moves the averages by (1 − momentum) computed in double precision, then used as an f32 scalar.
  new Float32Array(words.buffer, 16, 2).set([1 - momentum, BN_EPSILON]);
  return words;
}

const HEADER = /* wgsl */ `
struct Params { rows: u32, channels: u32, chunks: u32, rowsPerChunk: u32, decay: f32, epsilon: f32 }`;

// Welford within an invocation and Chan et al.'s pairwise merge between invocations and chunks: each partial keeps
// (count, mean, M2) around its own mean, so no Σx² − (Σx)²/n cancellation — activations sitting far from zero
// (a mean of 1,000 and a spread of 1) keep their variance to f32 precision.
const MERGE = /* wgsl */ `
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (n == 0.0) { return a; }
  let d = b.y - a.y;
  let f = b.x / n;
  return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}`;

/** Per-chunk column reduction, one chunk of rows per workgroup: `accumulate` folds x[i] of channel c into `s`, `combine` merges two lanes. */
function columnReduction(bindings: string, width: 2 | 3, init: string, accumulate: string, combine: string): string {
  const vec = `vec${width}<f32>`;
  return /* wgsl */ `${HEADER}${bindings}
const CL = ${CHANNEL_LANES}u;
const RL = ${ROW_LANES}u;
var<workgroup> acc: array<${vec}, ${CHANNEL_LANES * ROW_LANES}>;
${combine}
@compute @workgroup_size(${CHANNEL_LANES}, ${ROW_LANES})
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) g: vec3<u32>) {
  let c = g.x * CL + l.x;
  let start = g.y * p.rowsPerChunk;
  let end = min(start + p.rowsPerChunk, p.rows);
  var s = ${vec}(${init});
  if (c < p.channels) {
    for (var r = start + l.y; r < end; r += RL) {
      let i = r * p.channels + c;
      ${accumulate}
    }
  }
  let k = l.y * CL + l.x;
  acc[k] = s;
  workgroupBarrier();
  for (var stride = RL / 2u; stride > 0u; stride /= 2u) {
    if (l.y < stride) { acc[k] = combine(acc[k], acc[k + stride * CL]); }
    workgroupBarrier();
  }
  if (l.y == 0u && c < p.channels) {
    let o = (g.y * p.channels + c) * ${width}u;
    for (var j = 0u; j < ${width}u; j++) { partials[o + j] = acc[k][j]; }
  }
}`;
}

const STATS = columnReduction(/* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, 3, '0.0', /* wgsl */ `
      let v = x[i];
      s.x += 1.0;
      let d = v - s.y;
      s.y += d / s.x;
      s.z += d * (v - s.y);`, `${MERGE}\nfn combine(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> { return merge(a, b); }`);

// One invocation per channel merges the chunks, saves what backward needs and moves the averages exactly as
// tfjs-layers does (moving − (moving − batch)·(1 − momentum)), with the biased batch variance tf.moments gives.
const FINISH_STATS = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> saved: array<f32>;
@group(0) @binding(2) var<storage, read_write> movingMean: array<f32>;
@group(0) @binding(3) var<storage, read_write> movingVariance: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
${MERGE}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let c = id.x;
  if (c >= p.channels) { return; }
  var s = vec3<f32>(0.0);
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * p.channels + c) * 3u;
    s = merge(s, vec3<f32>(partials[o], partials[o + 1u], partials[o + 2u]));
  }
  let variance = s.z / s.x;
  saved[c] = s.y;
  saved[p.channels + c] = 1.0 / sqrt(variance + p.epsilon);
  movingMean[c] = movingMean[c] - (movingMean[c] - s.y) * p.decay;
  movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * p.decay;
}`;

/** The normalization with (mean, 1/√(σ²+ε)) from `stats`: saved batch statistics, or the moving ones. */
function apply(inference: boolean, activation: NormActivation): string {
  const stats = inference
    ? `let mean = movingMean[c];\n  let scale = 1.0 / sqrt(movingVariance[c] + p.epsilon);`
    : `let mean = saved[c];\n  let scale = saved[p.channels + c];`;
  const statBindings = inference
    ? `@group(0) @binding(3) var<storage, read> movingMean: array<f32>;
@group(0) @binding(4) var<storage, read> movingVariance: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;`
    : `@group(0) @binding(3) var<storage, read> saved: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;`;
  return /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
${statBindings}
@group(0) @binding(${inference ? 5 : 4}) var<storage, read_write> y: array<f32>;
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= p.rows * p.channels) { return; }
  let c = i % p.channels;
  ${stats}
  let v = gamma[c] * ((x[i] - mean) * scale) + beta[c];
  y[i] = ${ACTIVATION_WGSL[activation].clamp};
}`;
}

/** Each WGSL source built once per (kernel, activation): the GpuContext caches pipelines by source text. */
function perActivation(build: (activation: NormActivation) => string): Record<NormActivation, string> {
  return { relu6: build('relu6'), linear: build('linear') };
}

const APPLY_TRAINING = perActivation((activation) => apply(false, activation));
const APPLY_INFERENCE = perActivation((activation) => apply(true, activation));

/**
 * Training forward: y = relu6(γ·(x − μ)/√(σ² + ε) + β) with the batch's per-channel μ and biased σ², which go to
 * `saved` (μ, then 1/√(σ² + ε); see normSavedLength) for `normBackward`; movingMean and movingVariance move toward
 * them in place. `scratch` holds normScratchLength floats. 3 dispatches: chunk statistics, merge, normalize.
 */
export function normForwardTraining(
  gpu: GpuContext,
  b: NormWeights & { x: Binding; y: Binding; saved: Binding; movingMean: Binding; movingVariance: Binding; scratch: Binding },
  shape: NormShape,
  momentum: number,
  activation: NormActivation = 'relu6',
): void {
  const p = params(shape, momentum);
  gpu.dispatch(STATS, [b.x, b.scratch], [groups(shape.channels, CHANNEL_LANES), chunking(shape.rows).chunks], p);
  gpu.dispatch(FINISH_STATS, [b.scratch, b.saved, b.movingMean, b.movingVariance], [groups(shape.channels, 64)], p);
  gpu.dispatch(APPLY_TRAINING[activation], [b.x, b.gamma, b.beta, b.saved, b.y], flatGrid(shape.rows * shape.channels), p);
}

/** Inference forward with the moving statistics: 1 dispatch. */
export function normForwardInference(
  gpu: GpuContext,
  b: NormWeights & { x: Binding; y: Binding; movingMean: Binding; movingVariance: Binding },
  shape: NormShape,
  activation: NormActivation = 'relu6',
): void {
  gpu.dispatch(APPLY_INFERENCE[activation], [b.x, b.gamma, b.beta, b.movingMean, b.movingVariance, b.y], flatGrid(shape.rows * shape.channels), params(shape));
}

// Backward recomputes x̂ and the pre-activation from x and the saved statistics rather than keeping an x̂ buffer
// as large as the activations. tf.relu6's gradient is dy·(z ≤ 6)·step(z) with step(0) = 0: it passes at z = 6
// and stops at z = 0, and so does this mask.
const BACKWARD_BINDINGS = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> saved: array<f32>;`;

const masked = (activation: NormActivation) => /* wgsl */ `
      let xh = (x[i] - saved[c]) * saved[p.channels + c];
      let z = gamma[c] * xh + beta[c];
      let dz = select(0.0, dy[i], ${ACTIVATION_WGSL[activation].passes});`;

const GRAD_SUMS = perActivation((activation) => columnReduction(`${BACKWARD_BINDINGS}
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;`, 2, '0.0', `${masked(activation)}
      s += vec2<f32>(dz, dz * xh);`, 'fn combine(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return a + b; }'));

// Sums the chunks into dβ = ΣdZ and dγ = ΣdZ·x̂, and keeps both at the head of the scratch for the dX pass (which
// thus binds 7 storage buffers, under the 8 every WebGPU device allows).
const FINISH_GRADS = /* wgsl */ `${HEADER}
@group(0) @binding(0) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(1) var<storage, read_write> dGamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> dBeta: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let c = id.x;
  if (c >= p.channels) { return; }
  var s = vec2<f32>(0.0);
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * p.channels + c) * 2u;
    s += vec2<f32>(scratch[o], scratch[o + 1u]);
  }
  dBeta[c] = s.x;
  dGamma[c] = s.y;
  scratch[p.chunks * p.channels * 2u + c] = s.x;
  scratch[p.chunks * p.channels * 2u + p.channels + c] = s.y;
}`;

const INPUT_GRAD = perActivation((activation) => /* wgsl */ `${HEADER}${BACKWARD_BINDINGS}
@group(0) @binding(5) var<storage, read> scratch: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= p.rows * p.channels) { return; }
  let c = i % p.channels;
  ${masked(activation)}
  let sums = p.chunks * p.channels * 2u;
  let rows = f32(p.rows);
  dx[i] = gamma[c] * saved[p.channels + c] * (dz - scratch[sums + c] / rows - xh * (scratch[sums + p.channels + c] / rows));
}`);

/**
 * Backward of normForwardTraining given dY and its `saved` statistics: writes dX (which must not alias dY), dγ
 * and dβ. `scratch` holds normScratchLength floats. 3 dispatches: chunk sums, merge, dX.
 */
export function normBackward(
  gpu: GpuContext,
  b: NormWeights & { x: Binding; dy: Binding; saved: Binding; dx: Binding; dGamma: Binding; dBeta: Binding; scratch: Binding },
  shape: NormShape,
  activation: NormActivation = 'relu6',
): void {
  const p = params(shape);
  const inputs = [b.x, b.dy, b.gamma, b.beta, b.saved];
  gpu.dispatch(GRAD_SUMS[activation], [...inputs, b.scratch], [groups(shape.channels, CHANNEL_LANES), chunking(shape.rows).chunks], p);
  gpu.dispatch(FINISH_GRADS, [b.scratch, b.dGamma, b.dBeta], [groups(shape.channels, 64)], p);
  gpu.dispatch(INPUT_GRAD[activation], [...inputs, b.scratch, b.dx], flatGrid(shape.rows * shape.channels), p);
}
