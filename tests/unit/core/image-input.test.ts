// Uploaded images as model input: the centre square photo models see, pixels as the tensors each model
// takes, and a photo classified by a small image model with no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifyPhoto, readsPhotos } from '../../../src/core/inference/image-classify.ts';
import { centerSquare, photoBatch, rgbImage } from '../../../src/core/inference/image-input.ts';
import type { Classifier } from '../../../src/core/inference/inference.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** `side`² RGBA pixels where pixel i is (i, 2i, 3i) mod 256, fully opaque. */
function pixels(side: number): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(side * side * 4);
  for (let i = 0; i < side * side; i++) rgba.set([i % 256, (2 * i) % 256, (3 * i) % 256, 255], i * 4);
  return rgba;
}

/** A tiny image model (RGB in, softmax over `labels` out), seeded so it is the same each run. */
function tinyPhotoModel(sidePx: number, labels: string[]): Classifier {
  const model = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [sidePx, sidePx, 3], filters: 4, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
    tf.layers.globalAveragePooling2d({}),
    tf.layers.dense({ units: labels.length, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ] });
  return { model, labels, inputSizePx: sidePx, inkOnWhite: true, dispose: () => model.dispose() };
}

describe('centerSquare', () => {
  it('takes the middle of a landscape or portrait picture and all of a square one', () => {
    expect(centerSquare(640, 480)).toEqual({ x: 80, y: 0, sidePx: 480 });
    expect(centerSquare(300, 501)).toEqual({ x: 0, y: 100, sidePx: 300 });
    expect(centerSquare(224, 224)).toEqual({ x: 0, y: 0, sidePx: 224 });
  });
});

describe('pixels as tensors', () => {
  it('drops alpha; photo models get [-1, 1], ImageNet MobileNet gets 0–255 integers', async () => {
    const rgba = pixels(3);
    const batch = photoBatch(rgba, 3);
    expect(batch.shape).toEqual([1, 3, 3, 3]);
    const values = await batch.data();
    expect(values[0]).toBeCloseTo(-1);
    expect(values[4 * 3 + 1]).toBeCloseTo(8 / 127.5 - 1);
    const image = rgbImage({ width: 3, height: 3, rgba });
    expect(image.shape).toEqual([3, 3, 3]);
    expect(image.dtype).toBe('int32');
    expect(Array.from(await image.data()).slice(0, 6)).toEqual([0, 0, 0, 1, 2, 3]);
    const wide = rgbImage({ width: 3, height: 1, rgba: rgba.subarray(0, 12) });
    expect(wide.shape).toEqual([1, 3, 3]);
    wide.dispose();
    tf.dispose([batch, image]);
  });
});

describe('classifyPhoto', () => {
  it('ranks the model\'s classes, probabilities summing to at most 1, and frees every tensor', async () => {
    const classifier = tinyPhotoModel(8, ['one', 'two', 'three', 'four', 'five', 'six']);
    expect(readsPhotos(classifier)).toBe(true);
    expect(readsPhotos({ ...classifier, inkOnWhite: false })).toBe(false);
    const first = await classifyPhoto(classifier, pixels(8));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) expect(await classifyPhoto(classifier, pixels(8))).toEqual(first);
    expect(tf.memory().numTensors).toBe(before);
    expect(first).toHaveLength(5);
    expect(first.map((g) => g.probability)).toEqual([...first.map((g) => g.probability)].sort((a, b) => b - a));
    expect(first.reduce((sum, g) => sum + g.probability, 0)).toBeLessThanOrEqual(1 + 1e-6);
    // The input reaches the model: a different picture, different scores.
    const other = await classifyPhoto(classifier, pixels(8).map((v, i) => (i % 4 === 3 ? 255 : 255 - v)));
    expect(other.map((g) => g.probability)).not.toEqual(first.map((g) => g.probability));
    classifier.dispose();
  });
});
