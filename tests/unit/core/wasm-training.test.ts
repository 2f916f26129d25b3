// The WASM backend's added gradient kernels: TensorFlow's padding geometry, gradients equal to the cpu
// backend's for full, pointwise and depthwise convolutions at strides 1 and 2, and whole-network MobileNet
// training on 'wasm' with finite, falling loss and no leaked tensors.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone, preprocess, splitBackbone } from '../../../src/core/training/mobilenet.ts';
import { geometry, registerWasmTrainingKernels } from '../../../src/core/training/wasm-training.ts';
import { REPO_ROOT } from '../fixtures.ts';
import { folderHandler } from '../model-fixtures.ts';

beforeAll(async () => {
  setWasmPaths(`${path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')}/`);
  registerWasmTrainingKernels();
  expect(await tf.setBackend('wasm')).toBe(true);
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('geometry', () => {
  it('pads as TensorFlow does: the odd pixel after, none for valid', () => {
    expect(geometry(32, 32, 3, 3, 2, 'same')).toMatchObject({ outH: 16, outW: 16, top: 0, bottom: 1, left: 0, right: 1 });
    expect(geometry(9, 8, 3, 3, 1, 'same')).toMatchObject({ outH: 9, outW: 8, top: 1, bottom: 1, left: 1, right: 1 });
    expect(geometry(9, 8, 3, 3, 2, 'valid')).toMatchObject({ outH: 4, outW: 3, top: 0, bottom: 0 });
  });
});

async function gradients(backend: string, loss: () => tf.Scalar, variables: tf.Variable[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const { grads } = tf.variableGrads(loss, variables);
  const values = await Promise.all(variables.map(async (v) => (await grads[v.name]!.data()) as Float32Array));
  tf.dispose(grads);
  return values;
}

describe('gradient kernels', () => {
  it.each([
    [1, 'same', 3], [2, 'same', 3], [1, 'valid', 3], [2, 'valid', 3], [1, 'same', 1], [2, 'same', 1],
  ] as const)('stride %i, %s padding, kernel size %i: the same gradients as the cpu backend', async (stride, pad, k) => {
    const id = `${stride}${pad}${k}`;
    const x = tf.variable(tf.randomNormal([2, 9, 8, 4], 0, 1, 'float32', 1), true, `x${id}`);
    const full = tf.variable(tf.randomNormal([k, k, 4, 5], 0, 1, 'float32', 2), true, `w${id}`);
    const depthwise = tf.variable(tf.randomNormal([k, k, 4, 1], 0, 1, 'float32', 3), true, `d${id}`);
    const loss = (): tf.Scalar => tf.add(
      tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, full as tf.Tensor4D, stride, pad))),
      tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, depthwise as tf.Tensor4D, stride, pad))),
    ) as tf.Scalar;
    const expected = await gradients('cpu', loss, [x, full, depthwise]);
    const actual = await gradients('wasm', loss, [x, full, depthwise]);
    for (const [i, values] of expected.entries()) {
      const worst = Math.max(...values.map((v, j) => Math.abs(v - actual[i]![j]!) / (1 + Math.abs(v))));
      expect(worst).toBeLessThan(1e-4);
    }
    tf.dispose([x, full, depthwise]);
  });
});

describe('whole-network training on wasm', () => {
  it('gives finite, falling loss and leaves no tensors behind', async () => {
    await tf.setBackend('wasm');
    const backbone = await loadBackbone(folderHandler(), 32);
    const { trainable } = splitBackbone(backbone, backbone.blockEnds.length, { numClasses: 3, dropoutRate: 0, seed: 1 });
    trainable.compile({ optimizer: tf.train.adam(3e-3), loss: 'categoricalCrossentropy' });
    // Three classes, each a vertical bar at its own place.
    const bitmaps = new Uint8Array(12 * 784);
    for (let n = 0; n < 12; n++) for (let y = 4; y < 24; y++) for (let dx = 0; dx < 3; dx++) bitmaps[n * 784 + y * 28 + 4 + (n % 3) * 8 + dx] = 255;
    const x = preprocess(bitmaps, 28, 32);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 12 }, (_, n) => n % 3), 'int32'), 3);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      losses.push(Number(await trainable.trainOnBatch(x, y)));
      counts.push(tf.memory().numTensors);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
    expect(new Set(counts.slice(1)).size).toBe(1);
    tf.dispose([x, y]);
    for (const variable of new Set([...backbone.features.weights, ...trainable.weights])) variable.dispose();
  });
});
