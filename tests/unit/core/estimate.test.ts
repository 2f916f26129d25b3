import { describe, expect, it } from 'vitest';
import { estimateTrainSeconds } from '../../../src/core/estimate.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../../src/core/train-config.ts';

const whole = (overrides: Partial<TrainConfig> = {}): TrainConfig => parseConfig({ ...PRESETS['whole network'], ...overrides });
const per = (n: number, classes = 10) => Array.from({ length: classes }, () => n);

describe('estimateTrainSeconds', () => {
  it('matches the measured quality run: whole network, 48 px, 10 epochs of 24,000 drawings on WASM in about an hour', () => {
    const estimate = estimateTrainSeconds(whole({ inputSizePx: 48, epochs: 10 }), 'wasm', per(3000));
    expect(estimate.trainDrawings).toBe(24_000);
    expect(estimate.samplesPerSec).toBeCloseTo(68, 0);
    expect(estimate.seconds / 60).toBeGreaterThan(55);
    expect(estimate.seconds / 60).toBeLessThan(70);
  });

  it('uses the benchmark rates at 32 px for each mode and backend', () => {
    expect(estimateTrainSeconds(whole(), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(186, 5);
    expect(estimateTrainSeconds(whole(), 'webgl', per(3000)).samplesPerSec).toBeCloseTo(26, 5);
    const lastBlocks = (trainableBlocks: number) => parseConfig({ ...PRESETS['last blocks'], trainableBlocks });
    expect(estimateTrainSeconds(lastBlocks(2), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(2386, 5);
    expect(estimateTrainSeconds(lastBlocks(10), 'webgpu', per(3000)).samplesPerSec).toBeCloseTo(17, 5);
    // Between measured points the time per drawing is interpolated, so the rate falls as more blocks train.
    const six = estimateTrainSeconds(lastBlocks(6), 'wasm', per(3000)).samplesPerSec;
    expect(six).toBeLessThan(2386);
    expect(six).toBeGreaterThan(378);
    expect(estimateTrainSeconds(parseConfig({ ...PRESETS['head only'], inputSizePx: 32 }), 'wasm', per(3000)).samplesPerSec).toBeCloseTo(39_082, 5);
  });

  it('scales with epochs, drawings and input pixels, and is slowest on the plain CPU backend', () => {
    const base = estimateTrainSeconds(whole(), 'wasm', per(1000)).seconds;
    expect(estimateTrainSeconds(whole({ epochs: 6 }), 'wasm', per(1000)).seconds).toBeGreaterThan(1.9 * base);
    expect(estimateTrainSeconds(whole(), 'wasm', per(2000)).seconds).toBeGreaterThan(1.9 * base);
    expect(estimateTrainSeconds(whole({ inputSizePx: 64 }), 'wasm', per(1000)).seconds).toBeGreaterThan(4 * base);
    expect(estimateTrainSeconds(whole(), 'cpu', per(1000)).seconds).toBeGreaterThan(3 * base);
  });

  it('reads at most maxPerCategory a class, takes unknown counts as that cap, and trains on the train split only', () => {
    const config = parseConfig({ ...PRESETS['tiny'] });
    expect(estimateTrainSeconds(config, 'wasm', [500, 5, undefined]).trainDrawings).toBe(Math.round((20 + 5 + 20) * 0.6));
    const cached = estimateTrainSeconds(parseConfig({ ...PRESETS['head only'] }), 'wasm', per(3000));
    // The caching pass runs over every drawing, not just the training split.
    expect(cached.seconds).toBeGreaterThan(30_000 / (3 * 186 * (32 / 96) ** 2.48));
  });
});
