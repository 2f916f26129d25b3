// The engine's depthwise 3×3 and stem convolutions on this browser's WebGPU (SwiftShader here) against tfjs on the
// CPU backend, padded exactly as Keras' MobileNet v1 pads: forward, input and filter gradients, dispatches per call.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  depthwiseBackwardFilter, depthwiseBackwardInput, depthwiseFilterScratchLength, depthwiseForward, type DepthwiseShape,
  FLAT_INDEX,
} from '../../../src/core/engine/conv.ts';
import { stemBackwardFilter, stemFilterScratchLength, stemForward, type StemShape } from '../../../src/core/engine/conv-stem.ts';
import { GpuContext, grid } from '../../../src/core/engine/gpu.ts';
import { Random } from '../../../src/core/training/random.ts';

let gpu: GpuContext;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const created = await GpuContext.create();
  if (created === null) throw new Error('this Chromium exposes no WebGPU (SwiftShader expected)');
  gpu = created;
});

afterAll(() => gpu.destroy());

function randoms(random: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => random.symmetric(1));
}

/** max|actual − expected| / max(max|expected|, 1e-6), the engine's accuracy measure. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0, scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Keras' layout: 'same' at stride 1, ZeroPadding2D ((0,1),(0,1)) then 'valid' at stride 2. */
function kerasPad(x: tf.Tensor4D, stride: number): { x: tf.Tensor4D; padding: 'same' | 'valid' } {
  return stride === 1 ? { x, padding: 'same' } : { x: tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), padding: 'valid' };
}

function outSize(inSize: number, stride: number): number {
  return stride === 1 ? inSize : Math.floor((inSize - 2) / 2) + 1;
}

/** Runs `record` and returns how many dispatches it recorded. */
function counted(record: () => void): number {
  const before = gpu.dispatches;
  record();
  return gpu.dispatches - before;
}

/** tfjs's y, dX and dW of sum(conv(x, w) · r): r plays dY. */
function reference(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  x: tf.Tensor4D, w: tf.Tensor4D, r: tf.Tensor4D,
): [Float32Array, Float32Array, Float32Array] {
  const tensorsBefore = tf.memory().numTensors;
  const tensors = tf.tidy(() => {
    // tf.grads hands its function plain Tensors; these are the 4-D tensors passed in.
    const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return [conv(x, w), dx!, dw!];
  });
  // Every tensor here is float32, whose data is a Float32Array.
  const data = tensors.map((t) => t.dataSync() as Float32Array);
  tf.dispose(tensors);
  expect(tf.memory().numTensors, 'tensors left by the reference').toBe(tensorsBefore);
  return [data[0]!, data[1]!, data[2]!];
}

async function checkDepthwise(batch: number, size: [number, number], channels: number, stride: 1 | 2, seed: number) {
  const [inH, inW] = size;
  const shape: DepthwiseShape = {
    batch, inH, inW, channels, stride, padTop: stride === 1 ? 1 : 0, padLeft: stride === 1 ? 1 : 0,
    outH: outSize(inH, stride), outW: outSize(inW, stride),
  };
  const random = new Random(seed);
  const xs = randoms(random, batch * inH * inW * channels);
  const ws = randoms(random, 9 * channels);
  const rs = randoms(random, batch * shape.outH * shape.outW * channels);

  const x = tf.tensor4d(xs, [batch, inH, inW, channels]);
  const w = tf.tensor4d(ws, [3, 3, channels, 1]);
  const r = tf.tensor4d(rs, [batch, shape.outH, shape.outW, channels]);
  const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => {
    const padded = kerasPad(a, stride);
    return tf.depthwiseConv2d(padded.x, b, stride, padded.padding);
  };
  const [yRef, dxRef, dwRef] = reference(conv, x, w, r);
  tf.dispose([x, w, r]);

  const b = {
    x: gpu.upload(xs), w: gpu.upload(ws), dy: gpu.upload(rs), y: gpu.buffer(rs.length), dx: gpu.buffer(xs.length),
    dw: gpu.buffer(ws.length), scratch: gpu.buffer(depthwiseFilterScratchLength(shape)),
  };
  // Stale values in the outputs must be overwritten, not added to.
  for (const out of [b.y, b.dx, b.dw]) gpu.write(out, new Float32Array(out.size / 4).fill(7));
  expect(counted(() => depthwiseForward(gpu, b, shape)), 'forward dispatches').toBe(1);
  expect(counted(() => depthwiseBackwardInput(gpu, b, shape)), 'input-gradient dispatches').toBe(1);
  expect(counted(() => depthwiseBackwardFilter(gpu, b, shape)), 'filter-gradient dispatches').toBe(2);
  expect(relativeError(await gpu.read(b.y, rs.length), yRef), 'y').toBeLessThanOrEqual(1e-4);
  expect(relativeError(await gpu.read(b.dx, xs.length), dxRef), 'dX').toBeLessThanOrEqual(1e-4);
  expect(relativeError(await gpu.read(b.dw, ws.length), dwRef), 'dW').toBeLessThanOrEqual(1e-4);
  for (const buffer of Object.values(b)) buffer.destroy();
}

describe('depthwise 3×3 convolution', () => {
  it('matches tfjs at 16×16×8, stride 1 (block 1)', () => checkDepthwise(3, [16, 16], 8, 1, 1));
  it('matches tfjs at 16×16×16, stride 2 (block 2; several partial-sum chunks, the last one short)', () =>
    checkDepthwise(3, [16, 16], 16, 2, 2));
  it('matches tfjs at 3×3×64, stride 1', () => checkDepthwise(4, [3, 3], 64, 1, 3));
  it('matches tfjs at 2×2×128, stride 2 → 1×1', () => checkDepthwise(2, [2, 2], 128, 2, 4));
  it('matches tfjs at 2×2×256, stride 1 (the last blocks)', () => checkDepthwise(2, [2, 2], 256, 1, 5));
  it('matches tfjs on an odd 7×5×3 at stride 1 and stride 2', async () => {
    await checkDepthwise(3, [7, 5], 3, 1, 6);
    await checkDepthwise(3, [7, 5], 3, 2, 7);
  });
});

// The kernels' own indexing, on a grid too big for one dimension (a 240-image batch of block 1's 48×48×8 is
// 4.4 M elements): every index is visited once, none past the count. A kernel this cheap keeps SwiftShader quick.
const WRITE_INDEX = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
struct Params { count: u32 }
@group(0) @binding(1) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.count) { return; }
  out[i] += f32(i) + 1.0;
}`;

describe('grid', () => {
  it('wraps past 65,535 workgroups into y and covers each index once', async () => {
    const count = 65_535 * 64 + 1000;
    const dims = grid(count, 64);
    expect(dims).toEqual([65_535, 2]);
    const out = gpu.buffer(count + 64);
    gpu.dispatch(WRITE_INDEX, [out], dims, new Uint32Array([count]));
    const values = await gpu.read(out);
    let wrong = 0;
    for (let i = 0; i < count + 64; i++) if (values[i] !== (i < count ? i + 1 : 0)) wrong++;
    expect(wrong).toBe(0);
    out.destroy();
  });
});

async function checkStem(batch: number, inSize: number, seed: number) {
  const out = outSize(inSize, 2);
  const shape: StemShape = { batch, inH: inSize, inW: inSize, outChannels: 8, stride: 2, padTop: 0, padLeft: 0, outH: out, outW: out };
  const random = new Random(seed);
  const xs = randoms(random, batch * inSize * inSize * 3);
  const ws = randoms(random, 9 * 3 * 8);
  const rs = randoms(random, batch * out * out * 8);

  const x = tf.tensor4d(xs, [batch, inSize, inSize, 3]);
  const w = tf.tensor4d(ws, [3, 3, 3, 8]);
  const r = tf.tensor4d(rs, [batch, out, out, 8]);
  const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(kerasPad(a, 2).x, b, 2, 'valid');
  const [yRef, , dwRef] = reference(conv, x, w, r);
  tf.dispose([x, w, r]);

  const b = {
    x: gpu.upload(xs), w: gpu.upload(ws), dy: gpu.upload(rs), y: gpu.buffer(rs.length), dw: gpu.buffer(ws.length),
    scratch: gpu.buffer(stemFilterScratchLength(shape)),
  };
  for (const out of [b.y, b.dw]) gpu.write(out, new Float32Array(out.size / 4).fill(7));
  expect(counted(() => stemForward(gpu, b, shape)), 'forward dispatches').toBe(1);
  expect(counted(() => stemBackwardFilter(gpu, b, shape)), 'filter-gradient dispatches').toBe(2);
  expect(relativeError(await gpu.read(b.y, rs.length), yRef), 'y').toBeLessThanOrEqual(1e-4);
  expect(relativeError(await gpu.read(b.dw, ws.length), dwRef), 'dW').toBeLessThanOrEqual(1e-4);
  for (const buffer of Object.values(b)) buffer.destroy();
}

describe('stem (conv1: 3×3, 3 → 8 channels, stride 2, Keras padding)', () => {
  it('matches tfjs on 2×33×33×3', () => checkStem(2, 33, 11));
  it('matches tfjs on 2×32×32×3', () => checkStem(2, 32, 12));
  it('matches tfjs on 3×96×96×3 (many partial-sum chunks)', () => checkStem(3, 96, 13));
});
