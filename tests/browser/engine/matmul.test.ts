// The engine's matrix products (pointwise convolutions, the dense head) against tfjs on the CPU: forward with bias,
// dX, dW and db as tf.grads of sum((X·W + b) ⊙ R) for a random R, on tiny, awkward and MobileNet v1 α=0.25 shapes,
// with the dispatches each call records.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../../src/core/engine/gpu.ts';
import {
  backwardInputShape, backwardWeightsShape, biasGradient, biasGradientScratchLength, matmul, matmulBackwardInput,
  matmulBackwardWeights, matmulForward, matmulScratchLength,
} from '../../../src/core/engine/matmul.ts';
import { Random } from '../../../src/core/training/random.ts';

const TOLERANCE = 1e-4;

function randomArray(random: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => random.symmetric(1));
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / Math.max(scale, 1e-6);
}

interface Case {
  name: string;
  m: number;
  k: number;
  n: number;
  /** Dispatches of forward (with bias), dX, dW and db. */
  dispatches: [number, number, number, number];
}

const CASES: Case[] = [
  { name: 'tiny 1×1×1', m: 1, k: 1, n: 1, dispatches: [1, 1, 1, 1] },
  { name: 'awkward 37×19×23', m: 37, k: 19, n: 23, dispatches: [1, 1, 1, 1] },
  { name: 'conv_pw_1: batch 8 at 8×8, 8→16', m: 8 * 8 * 8, k: 8, n: 16, dispatches: [1, 1, 2, 2] },
  { name: 'conv_pw_12: batch 8 at 2×2, 128→256', m: 8 * 2 * 2, k: 128, n: 256, dispatches: [1, 1, 1, 1] },
  { name: 'conv_pw_13: batch 8 at 1×1, 256→256', m: 8, k: 256, n: 256, dispatches: [1, 1, 1, 1] },
  { name: 'dense head: batch 8, 256→10', m: 8, k: 256, n: 10, dispatches: [1, 1, 1, 1] },
  // The first block of a batch of 8 at 48 px: a long reduction over M onto one 8×16 output tile.
  { name: 'conv_pw_1: batch 8 at 24×24, 8→16', m: 8 * 24 * 24, k: 8, n: 16, dispatches: [1, 1, 2, 2] },
  // A reduction of dX long enough to split (α=1's last block has 1,024 channels) and odd everywhere.
  { name: 'split dX: 9×601→3', m: 9, k: 3, n: 601, dispatches: [1, 2, 1, 1] },
];

describe('matmul kernels', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const context = await GpuContext.create();
    expect(context, 'this Chromium exposes WebGPU (SwiftShader)').not.toBeNull();
    gpu = context!;
  });
  afterAll(() => gpu.destroy());

  for (const [index, { name, m, k, n, dispatches }] of CASES.entries()) {
    it(`${name}: Y = X·W + b, dX, dW and db match tfjs within ${TOLERANCE}`, async () => {
      const random = new Random(1000 + index);
      const x = randomArray(random, m * k), w = randomArray(random, k * n);
      const b = randomArray(random, n), r = randomArray(random, m * n);

      const [expectedY, expectedDx, expectedDw, expectedDb] = tf.tidy(() => {
        const [tx, tw, tb, tr] = [tf.tensor2d(x, [m, k]), tf.tensor2d(w, [k, n]), tf.tensor1d(b), tf.tensor2d(r, [m, n])];
        const y = tf.add(tf.matMul(tx, tw), tb);
        const grads = tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(xs, ws), bs), tr)));
        return [y, ...grads([tx, tw, tb])].map((t) => t.dataSync() as Float32Array);
      }) as [Float32Array, Float32Array, Float32Array, Float32Array];

      const shape = { m, k, n };
      const scratchLength = Math.max(
        matmulScratchLength(shape), matmulScratchLength(backwardInputShape(shape)),
        matmulScratchLength(backwardWeightsShape(shape)), biasGradientScratchLength(shape),
      );
      const buffers = {
        x: gpu.upload(x), w: gpu.upload(w), bias: gpu.upload(b), dy: gpu.upload(r),
        y: gpu.buffer(m * n), dx: gpu.buffer(m * k), dw: gpu.buffer(k * n), db: gpu.buffer(n),
        scratch: gpu.buffer(scratchLength),
      };
      const counts: number[] = [];
      const counted = (record: () => void) => {
        const before = gpu.dispatches;
        record();
        counts.push(gpu.dispatches - before);
      };
      counted(() => matmulForward(gpu, buffers, shape));
      counted(() => matmulBackwardInput(gpu, buffers, shape));
      counted(() => matmulBackwardWeights(gpu, buffers, shape));
      counted(() => biasGradient(gpu, buffers, shape));
      expect(counts).toEqual(dispatches);

      expect(relativeError(await gpu.read(buffers.y, m * n), expectedY)).toBeLessThanOrEqual(TOLERANCE);
      expect(relativeError(await gpu.read(buffers.dx, m * k), expectedDx)).toBeLessThanOrEqual(TOLERANCE);
      expect(relativeError(await gpu.read(buffers.dw, k * n), expectedDw)).toBeLessThanOrEqual(TOLERANCE);
      expect(relativeError(await gpu.read(buffers.db, n), expectedDb)).toBeLessThanOrEqual(TOLERANCE);
      for (const buffer of Object.values(buffers)) buffer.destroy();
    });
  }

  it('writes gradients rather than accumulating them, and asks for scratch it needs', async () => {
    const random = new Random(7);
    const m = 512, k = 8, n = 16;
    const x = randomArray(random, m * k), dy = randomArray(random, m * n);
    const buffers = { x: gpu.upload(x), dy: gpu.upload(dy), dw: gpu.upload(randomArray(random, k * n)), scratch: gpu.buffer(matmulScratchLength(backwardWeightsShape({ m, k, n }))) };
    matmulBackwardWeights(gpu, buffers, { m, k, n });
    const first = await gpu.read(buffers.dw);
    matmulBackwardWeights(gpu, buffers, { m, k, n });
    expect(Array.from(await gpu.read(buffers.dw))).toEqual(Array.from(first));
    expect(() => matmul(gpu, { a: buffers.x, b: buffers.dy, out: buffers.dw }, backwardWeightsShape({ m, k, n }))).toThrow(/scratch buffer of \d+ floats/);
    for (const buffer of Object.values(buffers)) buffer.destroy();
  });
});
