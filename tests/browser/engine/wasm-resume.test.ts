// A checkpoint moves between the engine's two paths: weights and Adam state read from the WebGPU engine (SwiftShader
// here) after two steps continue on the WASM engine (src/core/engine/wasm) as they continue on WebGPU — same
// moments, step count and weights after the next step, within what two correct f32 computations drift apart.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEngine } from '../../../workers/engine-module.ts';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import { packWeights, planMobileNetV1 } from '../../../src/core/engine/plan.ts';
import { EngineTrainer } from '../../../src/core/engine/step.ts';
import { WasmEngineTrainer } from '../../../src/core/engine/wasm/trainer.ts';
import { FINE_TUNE_BN_MOMENTUM, loadBackbone, splitBackbone } from '../../../src/core/training/mobilenet.ts';
import { Random } from '../../../src/core/training/random.ts';
import { createGpu, relativeError } from './compare.ts';

const MODEL_URL = '/assets/models/mobilenet_v1_0.25_224/model.json';
const SIZE = 32, BATCH = 4, CLASSES = 3, LEARNING_RATE = 0.001;
/** step.test.ts's bounds for one step against tfjs: gradients (so Adam's moments) 1e-3, weights 2e-3. */
const TOLERANCE = { moments: 1e-3, weight: 2e-3 };

let gpu: GpuContext;
beforeAll(async () => {
  await tf.setBackend('cpu');
  gpu = await createGpu();
});
afterAll(() => gpu.destroy());

/** Sketch-like bitmaps: a few random strokes of 255 on 0. */
function sketches(count: number, random: Random): Uint8Array {
  const bitmaps = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < 40; i++) bitmaps[n * 784 + Math.floor(random.next() * 784)] = 255;
  }
  return bitmaps;
}

describe('a checkpoint between the WebGPU and WASM engines', () => {
  it('continues on WASM as it continues on WebGPU', async () => {
    const split = splitBackbone(await loadBackbone(tf.io.http(MODEL_URL), SIZE), 13, { numClasses: CLASSES, dropoutRate: 0, seed: 1 });
    const plan = planMobileNetV1(split.trainable, CLASSES);
    const start = await packWeights(plan, split.trainable);
    split.trainable.dispose();
    const random = new Random(3);
    const batches = Array.from({ length: 3 }, () => ({ bitmaps: sketches(BATCH, random), labels: Uint32Array.from({ length: BATCH }, (_, i) => i % CLASSES) }));
    const options = { batch: BATCH, momentum: FINE_TUNE_BN_MOMENTUM };

    const webgpu = new EngineTrainer(gpu, plan, options);
    webgpu.setWeights(start.params, start.state);
    for (const b of batches.slice(0, 2)) webgpu.stepBitmaps(b.bitmaps, b.labels, LEARNING_RATE);
    const checkpoint = { weights: await webgpu.readWeights(), adam: await webgpu.readAdamState() };
    webgpu.stepBitmaps(batches[2]!.bitmaps, batches[2]!.labels, LEARNING_RATE);
    const expected = { weights: await webgpu.readWeights(), adam: await webgpu.readAdamState() };
    webgpu.destroy();

    const wasm = await WasmEngineTrainer.create(await compileEngine(), plan, options);
    wasm.setWeights(checkpoint.weights.params, checkpoint.weights.state);
    wasm.setAdamState(checkpoint.adam.m, checkpoint.adam.v, checkpoint.adam.steps);
    wasm.stepBitmaps(batches[2]!.bitmaps, batches[2]!.labels, LEARNING_RATE);
    const actual = { weights: await wasm.readWeights(), adam: await wasm.readAdamState() };

    expect(actual.adam.steps).toBe(3);
    const errors = [actual.adam.m, actual.adam.v, actual.weights.params, actual.weights.state].map((a, i) => relativeError(a, [expected.adam.m, expected.adam.v, expected.weights.params, expected.weights.state][i]!).toExponential(2));
    console.log(`WebGPU checkpoint continued on WASM, relative error against continuing on WebGPU: m ${errors[0]}, v ${errors[1]}, weights ${errors[2]}, moving statistics ${errors[3]}`);
    // A continuation that dropped the moments would have m = 0.1·g instead of 0.9·m + 0.1·g: far outside this bound.
    expect(relativeError(actual.adam.m, expected.adam.m)).toBeLessThan(TOLERANCE.moments);
    expect(relativeError(actual.adam.v, expected.adam.v)).toBeLessThan(TOLERANCE.moments);
    expect(relativeError(actual.weights.params, expected.weights.params)).toBeLessThan(TOLERANCE.weight);
    expect(relativeError(actual.weights.state, expected.weights.state)).toBeLessThan(TOLERANCE.weight);
  });
});
