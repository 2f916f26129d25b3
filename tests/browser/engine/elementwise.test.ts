// The engine's elementwise kernels (src/core/engine/elementwise.ts) on this browser's WebGPU (SwiftShader here)
// against tfjs on the CPU backend: a residual add and its backward (the output's gradient reaches both branches,
// the skip's added to the chain's), and a dense layer's ReLU forward and backward, on random data at TOLERANCE.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accumulate, addForward, reluBackward, reluForward } from '../../../src/core/engine/elementwise.ts';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import { matmulBackwardInput, matmulBackwardWeights, matmulForward } from '../../../src/core/engine/matmul.ts';
import { Random } from '../../../src/core/training/random.ts';
import { createGpu, relativeError, TOLERANCE, uniform } from './compare.ts';

let gpu: GpuContext;
beforeAll(async () => {
  await tf.setBackend('cpu');
  gpu = await createGpu();
});
afterAll(() => gpu.destroy());

describe('residual add', () => {
  // 2×7×7×37: an odd size; 70,001 floats: more than one row of the flat grid's workgroups.
  it.each([2 * 7 * 7 * 37, 70_001])('forward and backward over %i floats', async (count) => {
    const random = new Random(count);
    const [a, b, dy, chain] = [uniform(random, count), uniform(random, count, 3), uniform(random, count), uniform(random, count)];
    // The reference: the gradient of Σ dy·(a + b) with respect to b is dy; the skip's branch gets it on top of what
    // reaches it along the chain (`chain`).
    const [expectedY, expectedDb] = tf.tidy(() => {
      const [, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.add(x, z), tf.tensor1d(dy))))([tf.tensor1d(a), tf.tensor1d(b)]);
      return [tf.add(a, b), tf.add(db!, chain)].map((t) => t.dataSync() as Float32Array);
    });
    const buffers = { a: gpu.upload(a), b: gpu.upload(b), y: gpu.buffer(count), dy: gpu.upload(dy), chain: gpu.upload(chain) };
    const before = gpu.dispatches;
    addForward(gpu, buffers, count);
    accumulate(gpu, { total: buffers.chain, addend: buffers.dy }, count);
    expect(gpu.dispatches - before).toBe(2);
    expect(relativeError(await gpu.read(buffers.y), expectedY!)).toBeLessThanOrEqual(TOLERANCE);
    // The chain's branch takes dy itself (∂/∂a is dy: the engine passes the buffer on, which the whole v2 steps in
    // step-v2.test.ts check against tfjs), so only the skip's sum is a kernel.
    expect(relativeError(await gpu.read(buffers.chain), expectedDb!)).toBeLessThanOrEqual(TOLERANCE);
    for (const buffer of Object.values(buffers)) buffer.destroy();
  });
});

describe('dense + ReLU', () => {
  it('forward and backward match tf.relu(x·W + b) and its gradients', async () => {
    // Teachable Machine's hidden layer at batch 3: 1,280 pooled features to 100 units.
    const [m, k, n] = [3, 1280, 100];
    const random = new Random(4);
    const [x, w, bias, dy] = [uniform(random, m * k), uniform(random, k * n, 0.05), uniform(random, n, 0.5), uniform(random, m * n)];
    // A pre-activation exactly 0 (a zero row of x and a zero bias), where tf.relu's gradient stops.
    x.fill(0, 0, k);
    bias[0] = 0;
    const expected = tf.tidy(() => {
      const f = (xs: tf.Tensor, ws: tf.Tensor) => tf.relu(tf.add(tf.matMul(xs as tf.Tensor2D, ws as tf.Tensor2D), tf.tensor1d(bias)));
      const xs = tf.tensor2d(x, [m, k]), ws = tf.tensor2d(w, [k, n]);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), tf.tensor2d(dy, [m, n]))))([xs, ws]);
      return [f(xs, ws), dx!, dw!].map((t) => t.dataSync() as Float32Array);
    });
    const b = {
      x: gpu.upload(x), w: gpu.upload(w), bias: gpu.upload(bias), y: gpu.buffer(m * n), dy: gpu.upload(dy), dz: gpu.buffer(m * n),
      dx: gpu.buffer(m * k), dw: gpu.buffer(k * n), scratch: gpu.buffer(1 << 20), // Ample for every split here.
    };
    matmulForward(gpu, b, { m, k, n });
    const before = gpu.dispatches;
    reluForward(gpu, b.y, m * n);
    reluBackward(gpu, { dy: b.dy, y: b.y, dx: b.dz }, m * n);
    expect(gpu.dispatches - before).toBe(2);
    matmulBackwardWeights(gpu, { x: b.x, dy: b.dz, dw: b.dw, scratch: b.scratch }, { m, k, n });
    matmulBackwardInput(gpu, { dy: b.dz, w: b.w, dx: b.dx, scratch: b.scratch }, { m, k, n });
    const y = await gpu.read(b.y);
    expect(y.filter((v) => v === 0).length, 'some units are cut by the ReLU').toBeGreaterThan(m * n / 4);
    expect(relativeError(y, expected[0]!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.dx), expected[1]!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.dw), expected[2]!)).toBeLessThanOrEqual(TOLERANCE);
    for (const buffer of Object.values(b)) buffer.destroy();
  });
});
