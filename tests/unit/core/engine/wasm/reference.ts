// Shared by the WASM engine's Node tests: the engine's module from where scripts/build-wasm.sh writes it, the
// real MobileNet split as the app trains it, sketch-like bitmaps, and the relative error the WebGPU engine's
// browser tests use (tests/browser/engine/compare.ts), without its WebGPU dependency.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { loadBackbone, splitBackbone, type SplitModel } from '../../../../../src/core/mobilenet.ts';
import type { Random } from '../../../../../src/core/random.ts';
import { folderHandler } from '../../../model-fixtures.ts';

export const ENGINE_WASM = path.resolve(import.meta.dirname, '..', '..', '..', '..', '..', 'src', 'core', 'engine', 'wasm', 'generated', 'engine.wasm');

/** The built module's bytes; a missing build fails with what to run. */
export async function engineWasm(): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(ENGINE_WASM));
  } catch {
    throw new Error(`${ENGINE_WASM} is missing: run \`npm run assets\` (or \`bash scripts/build-wasm.sh\`; it needs \`apt-get install -y clang lld\`).`);
  }
}

/** The whole network (all 13 blocks trainable) with a fresh head, as the Trainer builds it. */
export async function wholeModel(inputSizePx: number, classes: number): Promise<SplitModel> {
  return splitBackbone(await loadBackbone(folderHandler(), inputSizePx), 13, { numClasses: classes, dropoutRate: 0, seed: 1 });
}

/** Sketch-like bitmaps: a few random strokes of 255 on 0 (as tests/browser/engine/step.test.ts draws them). */
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

/** Every trainable weight's gradient of the mean cross-entropy of one training call, by Keras name (tfjs, current backend). */
export async function tfjsGradients(model: tf.LayersModel, x: tf.Tensor, labels: Uint32Array, classes: number): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const y = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes);
  // A LayerVariable's read() is the tf.Variable it holds; variableGrads keys its result by that variable's name.
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar,
    variables,
  );
  const out = new Map<string, Float32Array>();
  model.trainableWeights.forEach((weight, i) => out.set(weight.originalName, grads[variables[i]!.name]!.dataSync() as Float32Array));
  const loss = (await value.data())[0]!;
  tf.dispose([y, value, ...Object.values(grads)]);
  return { loss, grads: out };
}
