// The pure pieces of training: deterministic splits and randomness, augmentation, metrics, config schema.
import { describe, expect, it } from 'vitest';
import { augmentBitmaps, averageViews, drawAugmentation, NO_AUGMENTATION, testTimeViews } from '../../../src/core/training/augment.ts';
import { evaluate, topK } from '../../../src/core/inference/metrics.ts';
import { Random, splitOf } from '../../../src/core/training/random.ts';
import { ConfigError, learningRateAt, learningRateLabel, parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';

describe('splitOf', () => {
  it('puts a drawing in the same split every time, in about the asked proportions', () => {
    const counts = { train: 0, validation: 0, test: 0 };
    // Fractions unlike each other, so that swapped arguments fail; 20,000 draws put a share within ±0.003 of its
    // fraction (one standard error), ±0.01 is three of them.
    for (let i = 0; i < 20_000; i++) counts[splitOf(`cat/${i}`, 0.2, 0.1)]++;
    expect(Math.abs(counts.validation / 20_000 - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(counts.test / 20_000 - 0.1)).toBeLessThan(0.01);
    for (let i = 0; i < 100; i++) expect(splitOf(`dog/${i}`, 0.1, 0.1)).toBe(splitOf(`dog/${i}`, 0.1, 0.1));
    // Growing the validation share only moves drawings out of training, never between test and validation.
    for (let i = 0; i < 1000; i++) if (splitOf(`cat/${i}`, 0.1, 0.1) === 'test') expect(splitOf(`cat/${i}`, 0.3, 0.1)).toBe('test');
  });
});

describe('Random', () => {
  it('continues the same sequence from a saved state', () => {
    const a = new Random(42);
    a.next(); a.next();
    const b = new Random(a.state);
    expect([a.next(), a.next(), a.next()]).toEqual([b.next(), b.next(), b.next()]);
  });
  it('shuffles into a permutation', () => {
    const order = new Random(1).shuffle(Uint32Array.from({ length: 100 }, (_, i) => i));
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...order]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('augmentBitmaps', () => {
  const square = new Uint8Array(784);
  for (let y = 10; y < 18; y++) for (let x = 10; x < 18; x++) square[y * 28 + x] = 255;
  it('changes nothing without augmentation', () => {
    expect(augmentBitmaps(square, 28, NO_AUGMENTATION, new Random(1))).toEqual(square);
  });
  it('mirrors left to right, and draws the same transforms as before where it does not mirror', () => {
    const corner = new Uint8Array(784);
    for (let y = 2; y < 9; y++) for (let x = 1; x < 6; x++) corner[y * 28 + x] = 200 + x;
    const mirrored = new Uint8Array(784);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) mirrored[y * 28 + x] = corner[y * 28 + 27 - x]!;
    expect(augmentBitmaps(corner, 28, { ...NO_AUGMENTATION, flipProbability: 1 }, new Random(3))).toEqual(mirrored);
    // Half the drawings mirrored: a sixth draw each, so the stream moves on by six a drawing.
    const options = { scale: 0.2, rotationDeg: 20, translatePx: 2, thickenProbability: 0.5 };
    const stream = new Random(8);
    const flips = Array.from({ length: 200 }, () => drawAugmentation({ ...options, flipProbability: 0.5 }, stream).flip);
    expect(flips.filter(Boolean).length).toBeGreaterThan(70);
    expect(flips.filter(Boolean).length).toBeLessThan(130);
    const plain = new Random(8), withZero = new Random(8);
    for (let i = 0; i < 5; i++) expect(drawAugmentation({ ...options, flipProbability: 0 }, withZero)).toEqual(drawAugmentation(options, plain));
    expect(withZero.next()).toBe(plain.next());
  });
  it('gives the views test-time augmentation averages over', () => {
    const two = Uint8Array.from({ length: 2 * 9 }, (_, i) => i);
    expect(testTimeViews(two, 3, 'none')).toEqual([two]);
    expect(testTimeViews(two, 3, undefined)).toEqual([two]);
    expect(testTimeViews(two, 3, 'flip')[1]).toEqual(Uint8Array.from([2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 17, 16, 15]));
    expect(averageViews([Float32Array.of(0.2, 0.8), Float32Array.of(0.6, 0.4)])).toEqual(Float32Array.of(0.4, 0.6));
  });
  it('moves, turns and thickens strokes while keeping ink on the page', () => {
    const out = augmentBitmaps(square, 28, { scale: 0.2, rotationDeg: 20, translatePx: 2, thickenProbability: 1 }, new Random(5));
    expect(out).not.toEqual(square);
    const ink = (b: Uint8Array) => b.reduce((s, v) => s + v, 0);
    // Thickening adds ink; scaling by at most ±20 % cannot lose most of it.
    expect(ink(out)).toBeGreaterThan(ink(square) * 0.6);
  });
});

describe('evaluate', () => {
  it('gives top-1, top-3, per-class precision, recall, F1 and the confusion matrix', () => {
    // 4 examples, 3 classes: truth [0, 0, 1, 2]; predictions 0, 1, 1, 0 (top-1).
    const p = new Float32Array([0.7, 0.2, 0.1, 0.3, 0.6, 0.1, 0.1, 0.8, 0.1, 0.5, 0.3, 0.2]);
    const r = evaluate(p, [0, 0, 1, 2], ['a', 'b', 'c']);
    expect(r.top1).toBe(0.5);
    expect(r.top3).toBe(1);
    expect(r.confusion).toEqual([[1, 1, 0], [0, 1, 0], [1, 0, 0]]);
    expect(r.perClass[0]).toMatchObject({ label: 'a', precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(r.perClass[1]).toMatchObject({ precision: 0.5, recall: 1, support: 1 });
    expect(r.perClass[2]).toMatchObject({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(topK([0.1, 0.5, 0.5, 0.2], 3)).toEqual([1, 2, 3]);
  });
});

describe('learningRateAt', () => {
  it('keeps a constant rate, or anneals it along a half cosine from the rate to 0', () => {
    expect(learningRateAt({ learningRate: 0.01, learningRateSchedule: 'constant', warmupEpochs: 0, epochs: 5 }, 50, 100)).toBe(0.01);
    const cosine = { learningRate: 0.01, learningRateSchedule: 'cosine', warmupEpochs: 0, epochs: 5 } as const;
    expect(learningRateAt(cosine, 0, 100)).toBeCloseTo(0.01, 12);
    expect(learningRateAt(cosine, 50, 100)).toBeCloseTo(0.005, 12);
    expect(learningRateAt(cosine, 75, 100)).toBeCloseTo(0.01 * (1 + Math.cos(0.75 * Math.PI)) / 2, 12);
    expect(learningRateAt(cosine, 100, 100)).toBeCloseTo(0, 12);
  });

  it('warms up linearly over the warm-up epochs, then anneals over the rest', () => {
    // 2 of 10 epochs over 100 steps: 20 steps of warm-up, then a half cosine over 80.
    const warm = { learningRate: 0.01, learningRateSchedule: 'cosine', warmupEpochs: 2, epochs: 10 } as const;
    expect(learningRateAt(warm, 0, 100)).toBeCloseTo(0.01 / 20, 12);
    expect(learningRateAt(warm, 9, 100)).toBeCloseTo(0.01 / 2, 12);
    expect(learningRateAt(warm, 19, 100)).toBeCloseTo(0.01, 12);
    expect(learningRateAt(warm, 20, 100)).toBeCloseTo(0.01, 12);
    expect(learningRateAt(warm, 60, 100)).toBeCloseTo(0.005, 12);
    expect(learningRateAt(warm, 100, 100)).toBeCloseTo(0, 12);
    expect(learningRateAt({ ...warm, learningRateSchedule: 'constant' }, 70, 100)).toBe(0.01);
    expect(learningRateAt({ ...warm, learningRateSchedule: 'constant' }, 4, 100)).toBeCloseTo(0.0025, 12);
    expect(learningRateLabel(warm)).toBe('0.01 (cosine, warm-up 2 ep)');
  });

  it('treats a stored config from before schedules as constant', () => {
    const old = { learningRate: 0.01 } as unknown as Parameters<typeof learningRateAt>[0];
    expect(learningRateAt(old, 90, 100)).toBe(0.01);
    expect(learningRateLabel(old)).toBe('0.01');
    expect(learningRateLabel({ learningRate: 0.001, learningRateSchedule: 'cosine', warmupEpochs: 0 })).toBe('0.001 (cosine)');
  });
});

describe('parseConfig', () => {
  it('accepts every preset and fills defaults', () => {
    for (const preset of Object.values(PRESETS)) expect(parseConfig(preset)).toEqual(preset);
    const { seed: _seed, backend: _backend, ...minimal } = PRESETS['tiny']!;
    expect(parseConfig(minimal)).toMatchObject({ seed: 1, backend: 'auto' });
  });
  it('lists every problem of a bad config', () => {
    const bad = { ...PRESETS['tiny'], epochs: 0, mode: 'everything', inputSizePx: 16, extra: true };
    expect(() => parseConfig(bad)).toThrow(ConfigError);
    for (const problem of ['/epochs must be >= 1', '/inputSizePx must be >= 32', '/mode must be one of head, last-blocks, whole', '(config) has an unknown field “extra”']) {
      expect(() => parseConfig(bad)).toThrow(problem);
    }
    expect(() => parseConfig({ ...PRESETS['tiny'], split: { validationFraction: 0.5, testFraction: 0.5 } })).toThrow(/leave drawings to train on/);
    expect(() => parseConfig({ ...PRESETS['tiny'], dataset: { datasetId: 'q', categories: ['cat', 'cat'] } })).toThrow(/listed twice/);
  });
});
