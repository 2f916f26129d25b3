// The trainer on the cpu backend with the real MobileNet v1 0.25 weights and tiny generated data: model
// building, frozen BatchNormalization, exact resume from a checkpoint, no tensor leaks, and a run's model loaded
// from its checkpoint without a Trainer (RunModel).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mirrorBitmaps } from '../../../src/core/training/augment.ts';
import { inferenceModel, loadBackbone, preprocess, splitBackbone } from '../../../src/core/training/mobilenet.ts';
import { Random } from '../../../src/core/training/random.ts';
import { RunModel } from '../../../src/core/training/run-model.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../../src/core/training/train-config.ts';
import { Trainer, type Checkpoint, type TrainHooks, type TrainingData } from '../../../src/core/training/training.ts';
import { folderHandler } from '../model-fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function config(overrides: Partial<TrainConfig>): TrainConfig {
  return parseConfig({ ...PRESETS['tiny'], inputSizePx: 32, epochs: 2, batchSize: 4, dropoutRate: 0, ...overrides });
}

/** `perClass` drawings of each of 3 classes: a bar at a class-specific place, so the task is learnable. */
function data(perClass: number): TrainingData {
  const random = new Random(7);
  const make = (count: number) => {
    const bitmaps = new Uint8Array(count * 3 * 784);
    const labels = new Int32Array(count * 3);
    for (let n = 0; n < count * 3; n++) {
      labels[n] = n % 3;
      for (let y = 4; y < 24; y++) for (let x = 0; x < 3; x++) bitmaps[n * 784 + y * 28 + 4 + labels[n]! * 8 + x] = 200 + Math.floor(random.next() * 55);
    }
    return { bitmaps, labels };
  };
  return { classNames: ['a', 'b', 'c'], imageSizePx: 28, train: make(perClass), validation: make(1), test: make(1) };
}

function hooks(saved: Checkpoint[], stopAfterBatches = Infinity): TrainHooks {
  let batches = 0;
  return {
    onProgress: () => {},
    saveCheckpoint: async (c) => { saved.push(c); },
    betweenBatches: async () => (batches++ >= stopAfterBatches ? 'stop' : 'go'),
    checkpointEverySec: 1e9,
  };
}

async function trainer(c: TrainConfig, d = data(4)): Promise<Trainer> {
  return new Trainer(c, await loadBackbone(folderHandler(), c.inputSizePx), d);
}

describe('MobileNet backbone', () => {
  it.each([32, 64, 96])('rebuilds at %i px with 13 blocks and a 256-channel feature map', async (size) => {
    const backbone = await loadBackbone(folderHandler(), size);
    expect(backbone.blockEnds).toHaveLength(13);
    const expected = size / 32;
    expect(backbone.features.outputs[0]!.shape).toEqual([null, expected, expected, 256]);
    const head = splitBackbone(backbone, 0, { numClasses: 10, dropoutRate: 0, seed: 1 });
    expect(head.cutLayer).toBe('conv_pw_13_relu');
    expect(head.trainable.countParams()).toBe(256 * 10 + 10);
    const whole = splitBackbone(backbone, 13, { numClasses: 10, dropoutRate: 0, seed: 1 });
    expect(whole.frozen).toBeNull();
    expect(whole.trainable.inputs[0]!.shape).toEqual([null, size, size, 3]);
    const output = tf.tidy(() => whole.trainable.predict(tf.zeros([2, size, size, 3])) as tf.Tensor);
    expect(output.shape).toEqual([2, 10]);
    output.dispose();
  });
});

describe('Trainer', () => {
  it('keeps frozen BatchNormalization frozen and trains the blocks after the cut', async () => {
    const t = await trainer(config({ mode: 'last-blocks', trainableBlocks: 1 }));
    const frozenBn = t.backbone.features.getLayer('conv_pw_12_bn');
    const trainedBn = t.backbone.features.getLayer('conv_pw_13_bn');
    const read = (layer: tf.layers.Layer) => layer.getWeights().map((w) => Array.from(w.dataSync()));
    // Fine-tuned BatchNormalization tracks its statistics faster than ImageNet's 0.99; frozen layers are untouched.
    expect(trainedBn.getConfig()['momentum']).toBe(0.9);
    expect(frozenBn.getConfig()['momentum']).toBe(0.99);
    const before = { frozen: read(frozenBn), trained: read(trainedBn) };
    await t.cacheFeatures(() => {});
    expect(await t.train(hooks([]))).toBe('finished');
    expect(read(frozenBn)).toEqual(before.frozen);
    // gamma, beta, moving mean and variance all moved in the trained block.
    read(trainedBn).forEach((values, i) => expect(values).not.toEqual(before.trained[i]));
    t.dispose();
  });

  it('resumes from a mid-run checkpoint to exactly the weights of an uninterrupted run', async () => {
    // Cosine decay too: a resumed run must pick the schedule up at its step, not restart it.
    const c = config({ mode: 'last-blocks', trainableBlocks: 1, learningRateSchedule: 'cosine', augmentation: { scale: 0.1, rotationDeg: 10, translatePx: 1, thickenProbability: 0.5 } });
    const straight = await trainer(c);
    await straight.cacheFeatures(() => {});
    await straight.train(hooks([]));
    const expected = (await straight.saveWeights()).weights;
    // 2 epochs of 3 batches: the last step ran at half a cosine's end, 0.001 × (1 + cos(5π/6)) / 2.
    expect(straight.learningRate).toBeCloseTo(0.001 * (1 + Math.cos((5 * Math.PI) / 6)) / 2, 8);
    straight.dispose();

    const saved: Checkpoint[] = [];
    const first = await trainer(c);
    await first.cacheFeatures(() => {});
    expect(await first.train(hooks(saved, 4))).toBe('stopped');
    first.dispose();
    const checkpoint = saved.at(-1)!;
    expect([checkpoint.epoch, checkpoint.batch]).toEqual([1, 1]);
    expect(checkpoint.optimizer.length).toBeGreaterThan(1);

    const resumed = await trainer(c);
    await resumed.cacheFeatures(() => {});
    await resumed.loadWeights(checkpoint);
    expect(await resumed.train(hooks([]), checkpoint)).toBe('finished');
    const actual = (await resumed.saveWeights()).weights;
    resumed.dispose();
    actual.forEach((w, i) => {
      const a = new Float32Array(w.data), b = new Float32Array(expected[i]!.data);
      expect(w.name).toBe(expected[i]!.name);
      let maxDiff = 0;
      for (let k = 0; k < a.length; k++) maxDiff = Math.max(maxDiff, Math.abs(a[k]! - b[k]!));
      expect(maxDiff, w.name).toBeLessThan(1e-5);
    });
  });

  it('lets the caching pass pause between batches and stop, keeping nothing half cached', async () => {
    const t = await trainer(config({ mode: 'head' }));
    const baseline = tf.memory().numTensors;
    const progress: number[] = [];
    let calls = 0;
    // One inference batch per split here: train, then validation is where the stop lands.
    expect(await t.cacheFeatures((done) => progress.push(done), async () => (++calls >= 2 ? 'stop' : 'go'))).toBe('stopped');
    expect(progress).toEqual([12]);
    expect(tf.memory().numTensors).toBe(baseline);
    progress.length = 0;
    expect(await t.cacheFeatures((done) => progress.push(done))).toBe('finished');
    expect(progress).toEqual([12, 15, 18]);
    expect(await t.train(hooks([]))).toBe('finished');
    t.dispose();
  });

  it.each(['whole', 'last-blocks'] as const)('scores %s runs under test-time flip as the mean of the drawings\' and their mirror images\' probabilities', async (mode) => {
    const c = config({ mode, trainableBlocks: 1, epochs: 1, testTimeAugmentation: 'flip' });
    const t = await trainer(c);
    if (t.usesCache) await t.cacheFeatures(() => {});
    await t.train(hooks([]));
    const { bitmaps } = t.data.test;
    const probabilities = async (view: Uint8Array) => {
      const model = inferenceModel(t.backbone, t.split);
      const out = tf.tidy(() => model.predict(preprocess(view, 28, c.inputSizePx)) as tf.Tensor);
      const values = await out.data() as Float32Array;
      out.dispose();
      return values;
    };
    const plain = await probabilities(bitmaps);
    const mirrored = await probabilities(mirrorBitmaps(bitmaps, 28));
    expect(mirrored).not.toEqual(plain);
    const scored = await t.predictSplit('test');
    expect(scored.length).toBeGreaterThan(0);
    expect(scored).toHaveLength(plain.length);
    scored.forEach((p, i) => expect(p).toBeCloseTo((plain[i]! + mirrored[i]!) / 2, 5));
    t.dispose();
  });

  it('trains the whole network with augmentation and leaks no tensors across epochs or after dispose', async () => {
    const baseline = tf.memory().numTensors;
    const t = await trainer(config({ mode: 'whole', epochs: 3, batchSize: 6, augmentation: { scale: 0.1, rotationDeg: 10, translatePx: 1, thickenProbability: 0.3 } }), data(2));
    const counts: number[] = [];
    const h = hooks([]);
    await t.train({ ...h, onProgress: (p) => { if (p.kind === 'epoch') counts.push(tf.memory().numTensors); } });
    expect(counts).toHaveLength(3);
    expect(new Set(counts).size).toBe(1);
    const result = await t.evaluateSplit('test');
    expect(result.count).toBe(3);
    t.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('RunModel', () => {
  it.each(['head', 'last-blocks'] as const)('loads a %s run\'s checkpoint alone and guesses what its Trainer scored, rejects a foreign checkpoint, frees everything', async (mode) => {
    const c = config({ mode, trainableBlocks: 2, epochs: 1, testTimeAugmentation: 'flip' });
    const t = await trainer(c);
    await t.cacheFeatures(() => {});
    await t.train(hooks([]));
    const scored = await t.predictSplit('test');
    const { weights } = await t.saveWeights();
    t.dispose();

    const baseline = tf.memory().numTensors;
    const model = await RunModel.load(c, folderHandler(), 3, weights);
    expect(model.split.frozen).not.toBeNull();
    const guessed = await model.predict(t.data.test.bitmaps, 28);
    expect(guessed).toHaveLength(scored.length);
    // The Trainer scores cached features through the trainable part; RunModel runs the composed model.
    guessed.forEach((p, i) => expect(p).toBeCloseTo(scored[i]!, 5));
    expect(await model.readWeights()).toEqual(weights);
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);

    await expect(RunModel.load(c, folderHandler(), 3, weights.slice(1))).rejects.toThrow(`The checkpoint has ${weights.length - 1} weights; this model has ${weights.length}.`);
    await expect(RunModel.load(config({ mode: 'whole' }), folderHandler(), 3, weights)).rejects.toThrow(/weights; this model has|does not match/);
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
