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

/** tf.train.adam's ε (the engines use the same: src/core/engine/head.ts adamCoefficients). */
const ADAM_EPSILON = 1e-7;

/**
 * One weight tensor's first Adam step in an engine against tfjs's, in learning rates. Comparing the weights after the
 * step cannot tell a missing update: one step moves each weight by about lr·sign(g), under any tolerance relative to
 * the tensor's values. So the moves (after − before) are compared:
 * - `own`: the largest gap between the engine's move and Adam's first move from the engine's own gradient,
 *   −lr·g/(|g| + ε) (m̂ = g, v̂ = g² after one step): a weight left in place, or moved by another rule, is about 1 lr
 *   off (the weights are f32, so rounding alone leaves ~1e-3 lr for weights up to ~8).
 * - `reference`: the largest gap between the engine's move and tfjs's, over the elements whose tfjs gradient stands
 *   `clear` (a fraction of the tensor's largest, ten times the gradient tolerance) of the two chains' rounding:
 *   there both moves are near ±lr and differ by at most lr·(gradient tolerance)/clear; elsewhere rounding may flip a
 *   sign, and `own` covers them.
 * - `clearElements`: how many elements `reference` covered, so that a test can require some.
 */
export function adamStepGaps(
  move: { before: ArrayLike<number>; engine: ArrayLike<number>; tfjs: ArrayLike<number> },
  gradient: { engine: ArrayLike<number>; tfjs: ArrayLike<number> }, learningRate: number, clear: number,
): { own: number; reference: number; clearElements: number } {
  const n = move.before.length;
  for (const values of [move.engine, move.tfjs, gradient.engine, gradient.tfjs]) expect(values.length).toBe(n);
  let largest = 0;
  for (let i = 0; i < n; i++) largest = Math.max(largest, Math.abs(gradient.tfjs[i]!));
  let own = 0, reference = 0, clearElements = 0;
  for (let i = 0; i < n; i++) {
    const moved = move.engine[i]! - move.before[i]!;
    const g = gradient.engine[i]!;
    own = Math.max(own, Math.abs(moved + (learningRate * g) / (Math.abs(g) + ADAM_EPSILON)));
    if (Math.abs(gradient.tfjs[i]!) >= clear * largest && largest > 0) {
      clearElements++;
      reference = Math.max(reference, Math.abs(moved - (move.tfjs[i]! - move.before[i]!)));
    }
  }
  return { own: own / learningRate, reference: reference / learningRate, clearElements };
}

/** A plan's tensors by Keras name, as unpackWeights gives them. */
type Unpacked = Map<string, { values: Float32Array }>;

/** The worst errors over the weights checked so far by `expectWeightAfterStep`. */
export interface WorstMoves { ownMove: number; referenceMove: number; state: number }

/**
 * One weight after a step, the engine's against tfjs's: a moving statistic relative to tfjs's (TOLERANCE); a trainable
 * weight by its move (adamStepGaps, with tfjs's gradients clear of rounding at ten times `gradientBound`): within
 * 1e-2 lr of Adam's move from the engine's gradient and, unless `ownMoveOnly`, 0.1 lr of tfjs's. Raises `worst`.
 */
export function expectWeightAfterStep(
  name: string, weight: { trainable: boolean; before: Float32Array; engine: Float32Array; tfjs: Float32Array },
  gradients: { engine: Float32Array; tfjs: Float32Array } | undefined, learningRate: number, gradientBound: number, worst: WorstMoves,
  ownMoveOnly = false,
): void {
  if (!weight.trainable) {
    const error = relativeError(weight.engine, weight.tfjs);
    worst.state = Math.max(worst.state, error);
    expect(error, `${name} after the step`).toBeLessThan(TOLERANCE);
    return;
  }
  expect(gradients, `${name}'s gradients`).toBeDefined();
  const gaps = adamStepGaps(weight, gradients!, learningRate, 10 * gradientBound);
  worst.ownMove = Math.max(worst.ownMove, gaps.own);
  expect(gaps.own, `${name}'s move against Adam's from the engine's gradient, in lr`).toBeLessThan(1e-2);
  if (ownMoveOnly) return;
  worst.referenceMove = Math.max(worst.referenceMove, gaps.reference);
  expect(gaps.reference, `${name}'s move against tfjs's, in lr`).toBeLessThan(0.1);
  expect(gaps.clearElements, `${name}: elements with a clear gradient`).toBeGreaterThan(0);
}

/**
 * Every weight of `model` (tfjs's, after its step) against an engine's after the same step from `start`, each by
 * `expectWeightAfterStep`. Returns the worst of each.
 */
export async function expectWeightsAfterStep(
  model: tf.LayersModel, engine: { start: Unpacked; after: Unpacked; gradients: Unpacked }, gradients: Map<string, Float32Array>,
  learningRate: number, gradientBound: number,
): Promise<WorstMoves> {
  const worst = { ownMove: 0, referenceMove: 0, state: 0 };
  for (const weight of model.weights) {
    const name = weight.originalName;
    const tfjs = await weight.read().data() as Float32Array;
    const move = { trainable: weight.trainable, before: engine.start.get(name)!.values, engine: engine.after.get(name)!.values, tfjs };
    const gradient = weight.trainable ? { engine: engine.gradients.get(name)!.values, tfjs: gradients.get(name)! } : undefined;
    expectWeightAfterStep(name, move, gradient, learningRate, gradientBound, worst);
  }
  expect(model.weights.filter((w) => w.trainable)).toHaveLength(gradients.size);
  return worst;
}

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
