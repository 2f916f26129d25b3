import { describe, expect, it } from 'vitest';
import { BACKBONES } from '../../../src/core/training/backbones.ts';
import { estimateTrainSeconds } from '../../../src/core/training/estimate.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../../src/core/training/train-config.ts';

const whole = (overrides: Partial<TrainConfig> = {}): TrainConfig => parseConfig({ ...PRESETS['whole network'], ...overrides });
const per = (n: number, classes = 10) => Array.from({ length: classes }, () => n);

describe('estimateTrainSeconds', () => {
  it('matches the measured quality run: whole network, 48 px, 10 epochs of 24,000 drawings on WASM (the engine) in 3.5 minutes', () => {
    const estimate = estimateTrainSeconds(whole({ inputSizePx: 48, epochs: 10 }), 'wasm', per(3000));
    expect(estimate.trainDrawings).toBe(24_000);
    expect(estimate.samplesPerSec).toBeCloseTo(1248, 0);
    expect(estimate.seconds / 60).toBeGreaterThan(3);
    expect(estimate.seconds / 60).toBeLessThan(4.5);
  });

  it('uses the benchmark rates at 32 px for each mode and backend', () => {
    expect(estimateTrainSeconds(whole(), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(3033, 5);
    // The engine trains on the plain CPU backend too, at the same rate.
    expect(estimateTrainSeconds(whole(), 'cpu', per(3000)).samplesPerSec).toBeCloseTo(3033, 5);
    expect(estimateTrainSeconds(whole(), 'webgl', per(3000)).samplesPerSec).toBeCloseTo(26, 5);
    const lastBlocks = (trainableBlocks: number) => parseConfig({ ...PRESETS['last blocks'], trainableBlocks });
    expect(estimateTrainSeconds(lastBlocks(2), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(19_442, 5);
    expect(estimateTrainSeconds(lastBlocks(10), 'webgpu', per(3000)).samplesPerSec).toBeCloseTo(17, 5);
    // Between measured points the time per drawing is interpolated, so the rate falls as more blocks train.
    const six = estimateTrainSeconds(lastBlocks(6), 'wasm', per(3000)).samplesPerSec;
    expect(six).toBeLessThan(19_442);
    expect(six).toBeGreaterThan(5_204);
    expect(estimateTrainSeconds(parseConfig({ ...PRESETS['head only'], inputSizePx: 32 }), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(212_778, 5);
  });

  it('charges a wider backbone its multiply-adds: α=0.75 trains about 7.9× slower than α=0.25', () => {
    const wide = BACKBONES.find((b) => b.label === 'MobileNet v1 α=0.75')!;
    const narrow = estimateTrainSeconds(whole(), 'wasm', per(3000)).samplesPerSec;
    expect(estimateTrainSeconds(whole({ model: { label: wide.label, url: wide.url } }), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(narrow / (325 / 41), 5);
    // A custom model is taken as α=0.25.
    expect(estimateTrainSeconds(whole({ model: { label: 'mine', url: 'https://example.com/model.json' } }), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(narrow, 5);
  });

  it('scales with epochs, drawings and input pixels; caching frozen features is slowest on the plain CPU backend', () => {
    const base = estimateTrainSeconds(whole(), 'wasm', per(1000)).seconds;
    // The fixed start-up share keeps these ratios a little under the factor.
    expect(estimateTrainSeconds(whole({ epochs: 6 }), 'wasm', per(1000)).seconds).toBeGreaterThan(1.5 * base);
    expect(estimateTrainSeconds(whole(), 'wasm', per(2000)).seconds).toBeGreaterThan(1.5 * base);
    expect(estimateTrainSeconds(whole({ inputSizePx: 64 }), 'wasm', per(1000)).seconds).toBeGreaterThan(2 * base);
    const head = parseConfig({ ...PRESETS['head only'] });
    expect(estimateTrainSeconds(head, 'cpu', per(1000)).seconds).toBeGreaterThan(3 * estimateTrainSeconds(head, 'wasm', per(1000)).seconds);
  });

  it('reads at most maxPerCategory a class, takes unknown counts as that cap, and trains on the train split only', () => {
    const config = parseConfig({ ...PRESETS['tiny'] });
    expect(estimateTrainSeconds(config, 'wasm', [500, 5, undefined]).trainDrawings).toBe(Math.round((20 + 5 + 20) * 0.6));
    const cached = estimateTrainSeconds(parseConfig({ ...PRESETS['head only'] }), 'wasm', per(3000));
    // The caching pass runs over every drawing, not just the training split.
    expect(cached.seconds).toBeGreaterThan(30_000 / (3 * 186 * (32 / 96) ** 2.48));
  });
});
