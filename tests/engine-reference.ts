// Shared by the engine's tests in Node (WebAssembly) and in Chromium (WebGPU), free of either: seeded data (random
// floats, sketch-like bitmaps), the relative error the engines are held to against tfjs, and tfjs's own gradients
// of a training call, the reference every engine step is compared with.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { Random } from '../src/core/training/random.ts';

/** `length` floats uniform in [offset − magnitude, offset + magnitude]. */
export function uniform(random: Random, length: number, magnitude = 1, offset = 0): Float32Array {
  return Float32Array.from({ length }, () => offset + random.symmetric(magnitude));
}

/** max|actual − expected| / max(max|expected|, 1e-6), the engine's yardstick against tfjs. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

export const TOLERANCE = 1e-4;

/** Sketch-like bitmaps: a few random strokes of 255 on 0. */
export function sketches(count: number, random: Random): Uint8Array {
  const bitmaps = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let s = 0; s < 4; s++) {
      let x = Math.floor(random.next() * 28), y = Math.floor(random.next() * 28);
      for (let t = 0; t < 12; t++) {
        bitmaps[n * 784 + y * 28 + x] = 255;
        x = Math.min(27, Math.max(0, x + Math.round(random.symmetric(1.5))));
        y = Math.min(27, Math.max(0, y + Math.round(random.symmetric(1.5))));
      }
    }
  }
  return bitmaps;
}

/**
 * Every trainable weight's gradient of the mean cross-entropy of one training call of `model` on `x` against
 * one-hot `y`, by Keras name, on the current tfjs backend (a training call also moves the model's moving statistics).
 */
export async function tfjsGradients(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  // A LayerVariable's read() is the tf.Variable it holds; variableGrads keys its result by that variable's name.
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar,
    variables,
  );
  const out = new Map<string, Float32Array>();
  model.trainableWeights.forEach((weight, i) => out.set(weight.originalName, grads[variables[i]!.name]!.dataSync() as Float32Array));
  const loss = (await value.data())[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}
