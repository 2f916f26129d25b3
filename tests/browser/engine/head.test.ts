// Head and optimizer kernels (src/core/engine/head.ts) on this browser's WebGPU (SwiftShader here) against tfjs on
// the CPU backend: global average pooling and its gradient, softmax cross-entropy with on-device loss and accuracy
// sums and its gradient, and three steps of tf.train.adam over several variables kept in one flat buffer.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import { adamStep, METRIC, METRICS_LENGTH, poolBackward, poolForward, softmaxCrossEntropy } from '../../../src/core/engine/head.ts';
import { Random } from '../../../src/core/training/random.ts';
import { createGpu, relativeError, TOLERANCE, uniform } from './compare.ts';

describe('head', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    gpu = await createGpu();
  });

  it.each([[2, 2, 2, 256], [8, 1, 1, 256], [5, 3, 3, 37], [3, 7, 5, 17], [8, 16, 16, 8]] as const)(
    'global average pooling and its gradient at %i×%i×%i×%i',
    async (batch, h, w, channels) => {
      const random = new Random(batch * 1000 + channels);
      const x = uniform(random, batch * h * w * channels, 2, 0.5);
      const dy = uniform(random, batch * channels);
      const [y, dx] = tf.tidy(() => {
        const xT = tf.tensor4d(x, [batch, h, w, channels]);
        const r = tf.tensor2d(dy, [batch, channels]);
        const dxT = tf.grad((t) => tf.sum(tf.mul(tf.mean(t, [1, 2]), r)))(xT);
        return [tf.mean(xT, [1, 2]).dataSync(), dxT.dataSync()];
      });
      const shape = { batch, positions: h * w, channels };
      const b = { x: gpu.upload(x), y: gpu.buffer(batch * channels), dy: gpu.upload(dy), dx: gpu.buffer(x.length) };
      const before = gpu.dispatches;
      poolForward(gpu, b, shape);
      poolBackward(gpu, b, shape);
      expect(gpu.dispatches - before).toBe(2);
      expect(relativeError(await gpu.read(b.y), y!)).toBeLessThanOrEqual(TOLERANCE);
      expect(relativeError(await gpu.read(b.dx), dx!)).toBeLessThanOrEqual(TOLERANCE);
      for (const buffer of Object.values(b)) buffer.destroy();
    },
  );

  it.each([[2, 3, 0], [5, 10, 0], [8, 7, 0], [3, 4, 0], [5, 10, 0.1], [8, 7, 0.3]] as const)('softmax cross-entropy, accuracy and gradient, batch %i of %i classes, label smoothing %f', async (batch, classes, labelSmoothing) => {
    const random = new Random(batch * 100 + classes);
    const batches = [0, 1].map(() => ({
      logits: uniform(random, batch * classes, 4),
      labels: Uint32Array.from({ length: batch }, () => Math.floor(random.next() * classes)),
    }));
    // A sample whose label is its largest logit, so every batch has a correct prediction to count.
    for (const { logits, labels } of batches) logits[labels[0]!] = 10;
    const expected = batches.map(({ logits, labels }) => tf.tidy(() => {
      const onehot = tf.oneHot(Array.from(labels), classes);
      const l = tf.tensor2d(logits, [batch, classes]);
      const loss = tf.losses.softmaxCrossEntropy(onehot, l, undefined, labelSmoothing).dataSync()[0]!;
      // The loss the app compiles (categorical cross-entropy on softmax outputs, against the targets training.ts
      // smooths) agrees with the fused one.
      const targets = onehot.mul(1 - labelSmoothing).add(labelSmoothing / classes);
      const keras = tf.mean(tf.metrics.categoricalCrossentropy(targets, tf.softmax(l))).dataSync()[0]!;
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(l, 1), tf.tensor1d(Int32Array.from(labels), 'int32')), 'float32')).dataSync()[0]!;
      const dLogits = tf.grad((t) => tf.losses.softmaxCrossEntropy(onehot, t, undefined, labelSmoothing))(l).dataSync();
      return { loss, keras, correct, dLogits };
    }));
    const metrics = gpu.upload(new Float32Array(METRICS_LENGTH));
    const dLogits = gpu.buffer(batch * classes);
    const before = gpu.dispatches;
    for (const [i, { logits, labels }] of batches.entries()) {
      const b = { logits: gpu.upload(logits), labels: gpu.upload(labels), metrics, dLogits };
      // The second batch is evaluated only: no gradient buffer, the same tally.
      softmaxCrossEntropy(gpu, i === 0 ? b : { ...b, dLogits: undefined }, { batch, classes, labelSmoothing });
      if (i === 0) expect(relativeError(await gpu.read(dLogits), expected[0]!.dLogits)).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(gpu.dispatches - before).toBe(2);
    const tally = await gpu.read(metrics);
    const [first, second] = expected as [typeof expected[0], typeof expected[0]]; // Two batches, built above.
    expect(relativeError([tally[METRIC.lossSum]!], [(first.loss + second.loss) * batch])).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError([first.keras], [first.loss])).toBeLessThanOrEqual(TOLERANCE);
    expect(tally[METRIC.correct]).toBe(first.correct + second.correct);
    expect(tally[METRIC.batches]).toBe(2);
    expect(tally[METRIC.samples]).toBe(2 * batch);
  });

  it('three Adam steps over one flat buffer match tf.train.adam on separate variables', async () => {
    const random = new Random(42);
    const sizes = [37, 2048, 256 * 3 + 5];
    const total = sizes.reduce((a, b) => a + b, 0);
    const initial = uniform(random, total);
    const steps = [0, 1, 2].map((step) => uniform(random, total, 10 ** (step - 1)));
    const learningRate = 0.01;

    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const variables = sizes.map((size, i) => tf.variable(tf.tensor1d(initial.subarray(offsets[i], offsets[i]! + size)), true, `adam-${i}`));
    const optimizer = tf.train.adam(learningRate);
    for (const grads of steps) {
      tf.tidy(() => optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(grads.subarray(offsets[i], offsets[i]! + sizes[i]!)) }))));
    }
    const concat = (tensors: tf.Tensor[]) => Float32Array.from(tensors.flatMap((t) => Array.from(t.dataSync())));
    const expectedParams = concat(variables);
    const moments = (await optimizer.getWeights()).slice(1).map((w) => w.tensor);
    const expectedM = concat(moments.slice(0, sizes.length));
    const expectedV = concat(moments.slice(sizes.length));

    const b = { params: gpu.upload(initial), grads: gpu.buffer(total), m: gpu.buffer(total), v: gpu.buffer(total) };
    const before = gpu.dispatches;
    for (const [i, grads] of steps.entries()) {
      gpu.write(b.grads, grads);
      adamStep(gpu, b, total, { learningRate, step: i + 1 });
      // queue.writeBuffer runs before anything still being recorded: send this step before the next gradients land.
      gpu.submit();
    }
    expect(gpu.dispatches - before).toBe(3);
    // The change, not the parameters: 3·lr against values near 1 would hide an error in the update itself.
    const change = (values: Float32Array) => values.map((value, i) => value - initial[i]!);
    expect(relativeError(change(await gpu.read(b.params)), change(expectedParams))).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.m), expectedM)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(await gpu.read(b.v), expectedV)).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([...variables]);
    optimizer.dispose();
    for (const buffer of Object.values(b)) buffer.destroy();
  });
});
