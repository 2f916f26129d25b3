// Guessing through the engine (the Play page's path on a real GPU): a trained model's flat inference model, with a
// dropout layer, classified through the fused kernels as tfjs classifies it, on WebGPU and on WebAssembly; an imported Teachable Machine model
// (MobileNet v2 at 224 px, ink on white) likewise, on both; a model it does not cover is left to tfjs; and this Chromium's
// software WebGPU is not taken for a real GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hardwareWebGpu } from '../../../src/core/training/backend.ts';
import { mirrorBitmaps } from '../../../src/core/training/augment.ts';
import { engineClassifier } from '../../../src/core/engine/classifier.ts';
import { classifyBitmap, type Classifier } from '../../../src/core/inference/inference.ts';
import { inferenceModel, loadBackbone, preprocess, splitBackbone } from '../../../src/core/training/mobilenet.ts';
import { Random } from '../../../src/core/training/random.ts';
import { teachableArtifacts } from '../../../datasets/teachable-machine.ts';
import { relativeError, sketches, TOLERANCE } from './compare.ts';
import { teachableFiles } from './teachable-files.ts';
import { compileEngine } from '../../../workers/engine-module.ts';

const MODEL_URL = '/assets/models/mobilenet_v1_0.25_224/model.json';
const tm = await teachableFiles();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('engineClassifier', () => {
  it('classifies drawings as tfjs does, dropout and all', async () => {
    const backbone = await loadBackbone(tf.io.http(MODEL_URL), 32);
    const split = splitBackbone(backbone, 13, { numClasses: 4, dropoutRate: 0.3, seed: 2 });
    const model = inferenceModel(backbone, split);
    const engine = await engineClassifier(model);
    expect(engine).not.toBeNull();
    const onTfjs: Classifier = { model, labels: ['a', 'b', 'c', 'd'], inputSizePx: 32, inkOnWhite: false, dispose: () => {} };
    const random = new Random(3);
    for (let n = 0; n < 3; n++) {
      const bitmap = Uint8Array.from({ length: 784 }, () => (random.next() < 0.15 ? 255 : 0));
      const x = preprocess(bitmap, 28, 32);
      const expected = await (model.predict(x) as tf.Tensor).data();
      x.dispose();
      expect(relativeError(await engine!.predict(bitmap), expected)).toBeLessThan(TOLERANCE);
      const guesses = await classifyBitmap({ ...onTfjs, engine }, bitmap);
      expect(guesses.map((g) => g.label)).toEqual((await classifyBitmap(onTfjs, bitmap)).map((g) => g.label));
      // Under test-time flip a guess is the mean of the drawing's and its mirror image's probabilities, on both paths.
      const mirrored = await engine!.predict(mirrorBitmaps(bitmap, 28));
      for (const flipped of [await classifyBitmap({ ...onTfjs, engine, testTimeAugmentation: 'flip' }, bitmap, 4), await classifyBitmap({ ...onTfjs, testTimeAugmentation: 'flip' }, bitmap, 4)]) {
        for (const guess of flipped) {
          const k = onTfjs.labels.indexOf(guess.label);
          expect(guess.probability).toBeCloseTo((expected[k]! + mirrored[k]!) / 2, 5);
        }
      }
    }
    engine!.dispose();
    split.trainable.dispose();
  });

  it('classifies drawings as tfjs does on the engine\'s WebAssembly kernels (the Play page without a GPU)', async () => {
    const cpuModule = await compileEngine();
    const backbone = await loadBackbone(tf.io.http(MODEL_URL), 48);
    const split = splitBackbone(backbone, 13, { numClasses: 5, dropoutRate: 0.2, seed: 4 });
    const model = inferenceModel(backbone, split);
    const engine = await engineClassifier(model, cpuModule);
    expect(engine).not.toBeNull();
    const random = new Random(6);
    const times: number[] = [];
    for (let n = 0; n < 12; n++) {
      const bitmap = sketches(1, random);
      const x = preprocess(bitmap, 28, 48);
      const expected = await (model.predict(x) as tf.Tensor).data();
      x.dispose();
      const started = performance.now();
      const actual = await engine!.predict(bitmap);
      times.push(performance.now() - started);
      expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
    }
    console.log(`the engine's WebAssembly guess at 48 px: median ${times.sort((a, b) => a - b)[6]!.toFixed(2)} ms over 12 drawings (the first included)`);
    engine!.dispose();
    split.trainable.dispose();
  });

  it.skipIf(tm === null).each(['WebGPU', 'WebAssembly'])('classifies drawings as tfjs does with an imported Teachable Machine model (MobileNet v2, ../shared) on %s', async (path) => {
    const model = await tf.loadLayersModel(tf.io.fromMemory(teachableArtifacts(tm!)));
    const engine = await engineClassifier(model, path === 'WebAssembly' ? await compileEngine() : undefined);
    expect(engine).not.toBeNull();
    const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
    const onTfjs: Classifier = { model, labels, inputSizePx: 224, inkOnWhite: true, dispose: () => {} };
    const random = new Random(8);
    let worst = 0;
    for (let n = 0; n < 2; n++) {
      // A drawing as stored (white on black); classifyBitmap hands both paths its inverse.
      const bitmap = sketches(1, random);
      const inkOnWhite = bitmap.map((v) => 255 - v);
      const input = preprocess(inkOnWhite, 28, 224);
      const expected = await (model.predict(input) as tf.Tensor).data();
      input.dispose();
      const error = relativeError(await engine!.predict(inkOnWhite), expected);
      worst = Math.max(worst, error);
      expect(error).toBeLessThan(TOLERANCE);
      const guesses = await classifyBitmap({ ...onTfjs, engine }, bitmap);
      expect(guesses.map((g) => g.label)).toEqual((await classifyBitmap(onTfjs, bitmap)).map((g) => g.label));
      // Under test-time flip a guess is the mean of the drawing's and its mirror image's probabilities, on both paths.
      const mirrored = await engine!.predict(mirrorBitmaps(inkOnWhite, 28));
      for (const flipped of [await classifyBitmap({ ...onTfjs, engine, testTimeAugmentation: 'flip' }, bitmap, 4), await classifyBitmap({ ...onTfjs, testTimeAugmentation: 'flip' }, bitmap, 4)]) {
        for (const guess of flipped) {
          const k = onTfjs.labels.indexOf(guess.label);
          expect(guess.probability).toBeCloseTo((expected[k]! + mirrored[k]!) / 2, 5);
        }
      }
    }
    console.log(`Teachable Machine model on the engine (${path}): worst relative error of the probabilities ${worst.toExponential(2)}`);
    engine!.dispose();
    model.dispose();
  });

  it('leaves a model it does not cover to tfjs', async () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const pooled = tf.layers.globalMaxPooling2d({}).apply(tf.layers.maxPooling2d({ poolSize: 2 }).apply(input)) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
    expect(await engineClassifier(tf.model({ inputs: input, outputs: output }))).toBeNull();
  });

  it('does not take software WebGPU for a real GPU', async () => {
    expect(await hardwareWebGpu()).toBe(false);
    expect(await hardwareWebGpu(async () => 'nvidia hopper')).toBe(true);
    expect(await hardwareWebGpu(async () => null)).toBe(false);
  });
});
