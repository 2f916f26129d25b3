// BatchNorm + ReLU6 kernels (src/core/engine/norm.ts) on this browser's WebGPU (SwiftShader here) against tfjs on
// the CPU backend: training forward and its gradients against tf.moments + tf.batchNorm + tf.relu6, the moving
// averages against a tfjs-layers BatchNormalization trained for one batch, and inference against tf.batchNorm; and
// the same with no activation (MobileNet v2's linear projections).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import {
  normBackward, normForwardInference, normForwardTraining, normSavedLength, normScratchLength, type NormActivation, type NormShape,
} from '../../../src/core/engine/norm.ts';
import { Random } from '../../../src/core/training/random.ts';
import { createGpu, relativeError, TOLERANCE, uniform } from './compare.ts';

/** NHWC shapes from MobileNet v1 α=0.25 at 32–48 px, batch 2–8, and awkward ones. */
const SHAPES: [number, number, number, number][] = [
  [8, 16, 16, 8], // 2,048 rows, the first blocks
  [2, 2, 2, 256], // 8 rows, the last blocks
  [3, 5, 7, 37],
  [2, 4, 4, 128],
  [5, 3, 3, 33],
];

interface Case {
  shape: NormShape;
  dims: [number, number, number, number];
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

function makeCase(dims: [number, number, number, number], seed: number): Case {
  const random = new Random(seed);
  const [n, h, w, channels] = dims;
  const rows = n * h * w;
  const offsets = uniform(random, channels, 2);
  const spreads = Float32Array.from({ length: channels }, () => 0.2 + random.next() * 3);
  const x = Float32Array.from({ length: rows * channels }, (_, i) => offsets[i % channels]! + spreads[i % channels]! * random.symmetric(1));
  // Large γ and β reach past 6 as well as below 0; γ = 0 with β = 0 or 6 puts every pre-activation exactly on
  // ReLU6's edges, where tf.relu6's gradient stops at 0 and passes at 6.
  const gamma = uniform(random, channels, 3);
  const beta = uniform(random, channels, 1.5, 0.5);
  gamma.set([0, 0]);
  beta.set([0, 6]);
  return {
    shape: { rows, channels }, dims, x, gamma, beta,
    movingMean: uniform(random, channels, 1),
    movingVariance: Float32Array.from({ length: channels }, () => 0.5 + random.next()),
  };
}

const ACTIVATIONS: Record<NormActivation, (x: tf.Tensor) => tf.Tensor> = { relu6: tf.relu6, linear: (x) => x };

function reference(c: Case, dy: Float32Array, activation: NormActivation) {
  return tf.tidy(() => {
    const x = tf.tensor4d(c.x, c.dims);
    const gamma = tf.tensor1d(c.gamma);
    const beta = tf.tensor1d(c.beta);
    const f = (x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return ACTIVATIONS[activation](tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, b, g, 1e-3)); // moments over 3 of 4 axes is 1-D.
    };
    const r = tf.tensor4d(dy, c.dims);
    // tf.grads types its function over plain Tensors; the inputs are the 4-D and 1-D tensors f expects.
    const [dx, dGamma, dBeta] = tf.grads((x, g, b) => tf.sum(tf.mul(f(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D), r)))([x, gamma, beta]);
    return [f(x, gamma, beta), dx!, dGamma!, dBeta!].map((t) => t.dataSync() as Float32Array);
  });
}

/** A tfjs-layers BatchNormalization after one training batch, as model.fit runs it: the moving statistics. */
async function layerMovingStats(c: Case, momentum: number): Promise<[Float32Array, Float32Array]> {
  const [, h, w, channels] = c.dims;
  const layer = tf.layers.batchNormalization({ inputShape: [h, w, channels], momentum, epsilon: 1e-3 });
  const model = tf.sequential({ layers: [layer] });
  model.compile({ optimizer: tf.train.sgd(0), loss: 'meanSquaredError' });
  layer.setWeights([c.gamma, c.beta, c.movingMean, c.movingVariance].map((values) => tf.tensor1d(values)));
  const x = tf.tensor4d(c.x, c.dims);
  const target = tf.zerosLike(x);
  await model.trainOnBatch(x, target);
  const [, , mean, variance] = layer.getWeights().map((t) => t.dataSync() as Float32Array);
  tf.dispose([x, target]);
  model.dispose();
  return [mean!, variance!];
}

describe('BatchNorm + ReLU6, and BatchNorm alone', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    gpu = await createGpu();
  });

  // Every shape with ReLU6; the first three with no activation as well.
  const cases = [
    ...SHAPES.map((dims, i) => [dims.join('×'), 'relu6', dims, i] as const),
    ...SHAPES.slice(0, 3).map((dims, i) => [dims.join('×'), 'linear', dims, i] as const),
  ];
  it.each(cases)('training forward, moving averages and gradients at %s, %s', async (_, activation, dims, seed) => {
    const c = makeCase(dims, 100 + seed);
    const momentum = seed % 2 === 0 ? 0.9 : 0.99;
    const dyValues = uniform(new Random(200 + seed), c.x.length);
    const [y, dx, dGamma, dBeta] = reference(c, dyValues, activation);
    const [movingMean, movingVariance] = await layerMovingStats(c, momentum);

    const size = c.x.length;
    const b = {
      x: gpu.upload(c.x), gamma: gpu.upload(c.gamma), beta: gpu.upload(c.beta),
      movingMean: gpu.upload(c.movingMean), movingVariance: gpu.upload(c.movingVariance),
      y: gpu.buffer(size), saved: gpu.buffer(normSavedLength(c.shape)), scratch: gpu.buffer(normScratchLength(c.shape)),
      dy: gpu.upload(dyValues), dx: gpu.buffer(size), dGamma: gpu.buffer(c.shape.channels), dBeta: gpu.buffer(c.shape.channels),
    };
    const before = gpu.dispatches;
    normForwardTraining(gpu, b, c.shape, momentum, activation);
    expect(gpu.dispatches - before).toBe(3);
    normBackward(gpu, b, c.shape, activation);
    expect(gpu.dispatches - before).toBe(6);

    expect(relativeError(await gpu.read(b.y), y!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.movingMean), movingMean)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.movingVariance), movingVariance)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.dx), dx!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.dGamma), dGamma!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.dBeta), dBeta!)).toBeLessThanOrEqual(TOLERANCE);
    for (const buffer of Object.values(b)) buffer.destroy();
  });

  it.each(['relu6', 'linear'] as const)('inference forward with the moving statistics, in one dispatch (%s)', async (activation) => {
    for (const [i, dims] of SHAPES.entries()) {
      const c = makeCase(dims, 300 + i);
      const expected = tf.tidy(() => ACTIVATIONS[activation](tf.batchNorm(tf.tensor4d(c.x, dims), c.movingMean, c.movingVariance, c.beta, c.gamma, 1e-3)).dataSync());
      const b = {
        x: gpu.upload(c.x), gamma: gpu.upload(c.gamma), beta: gpu.upload(c.beta), movingMean: gpu.upload(c.movingMean),
        movingVariance: gpu.upload(c.movingVariance), y: gpu.buffer(c.x.length),
      };
      const before = gpu.dispatches;
      normForwardInference(gpu, b, c.shape, activation);
      expect(gpu.dispatches - before).toBe(1);
      expect(relativeError(await gpu.read(b.y), expected), dims.join('×')).toBeLessThanOrEqual(TOLERANCE);
      for (const buffer of Object.values(b)) buffer.destroy();
    }
  });

  it('keeps the variance of activations far from zero (mean 1,000, spread 1) to f32 precision', async () => {
    const shape = { rows: 2048, channels: 8 };
    const x = uniform(new Random(7), shape.rows * shape.channels, 1, 1000);
    const b = {
      x: gpu.upload(x), gamma: gpu.upload(new Float32Array(8).fill(1)), beta: gpu.buffer(8), y: gpu.buffer(x.length),
      movingMean: gpu.buffer(8), movingVariance: gpu.buffer(8), saved: gpu.buffer(normSavedLength(shape)),
      scratch: gpu.buffer(normScratchLength(shape)),
    };
    normForwardTraining(gpu, b, shape, 0.9);
    const saved = await gpu.read(b.saved);
    for (let c = 0; c < 8; c++) {
      let sum = 0;
      for (let r = 0; r < shape.rows; r++) sum += x[r * 8 + c]!;
      const mean = sum / shape.rows;
      let squares = 0;
      for (let r = 0; r < shape.rows; r++) squares += (x[r * 8 + c]! - mean) ** 2;
      const invStd = 1 / Math.sqrt(squares / shape.rows + 1e-3);
      expect(Math.abs(saved[c]! - mean) / mean).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(saved[8 + c]! - invStd) / invStd).toBeLessThanOrEqual(TOLERANCE);
    }
    for (const buffer of Object.values(b)) buffer.destroy();
  });
});
