// The app's Trainer with its steps on the engine (tfjs's WebGPU backend, SwiftShader here): it says which path
// trains, the loss falls, a run stopped mid-epoch resumes on the engine to exactly the weights of an uninterrupted
// one, and the same checkpoint resumes on the tfjs path too (checkpoints keep tfjs's Adam format); the same for
// the last blocks on cached features with dropout; augmentation on the device gives tfjs's inputs; and MobileNet v2
// (the Teachable Machine backbone `npm run assets` serves) trains on both engines and resumes exactly on the CPU one.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import '../../../workers/wasm-backend.ts';
import { cpuEngine } from '../../../workers/engine-module.ts';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CpuEngine } from '../../../src/core/engine/wasm/threads.ts';
import { chooseBackend } from '../../../src/core/training/backend.ts';
import { BACKBONES } from '../../../src/core/training/backbones.ts';
import { loadBackbone, preprocess } from '../../../src/core/training/mobilenet.ts';
import { parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';
import { Trainer, type Checkpoint, type TrainHooks, type TrainingData } from '../../../src/core/training/training.ts';
import { relativeError } from './compare.ts';
import { bars } from '../helpers.ts';

const config = parseConfig({ ...PRESETS['tiny'], mode: 'whole', inputSizePx: 32, epochs: 2, batchSize: 5, learningRate: 0.002 });

// 12 training drawings in batches of 5: every epoch ends with a short batch of 2.
const data: TrainingData = { classNames: ['a', 'b', 'c'], imageSizePx: 28, train: bars(4, 1), validation: bars(1, 2), test: bars(1, 3) };

function hooks(saved: Checkpoint[], losses: number[], stopAfterBatches = Infinity): TrainHooks {
  let batches = 0;
  return {
    onProgress: (p) => { if (p.kind === 'epoch') losses.push(p.metrics.loss); },
    saveCheckpoint: async (c) => { saved.push(c); },
    betweenBatches: async () => (batches++ >= stopAfterBatches ? 'stop' : 'go'),
    checkpointEverySec: 1e9,
  };
}

async function trainer(chosen = config): Promise<Trainer> {
  return new Trainer(chosen, await loadBackbone(tf.io.http(`/${chosen.model.url}`), chosen.inputSizePx), data);
}

type Weights = Awaited<ReturnType<Trainer['saveWeights']>>['weights'];

/**
 * A resumed run's weights against the uninterrupted run's (to 1e-6), and the uninterrupted run's against the weights
 * it started from: a resume that trained nothing would otherwise match a run that trained nothing.
 */
async function expectResumedExactly(actual: Weights, expected: Weights, chosen = config): Promise<void> {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((w, i) => expect(relativeError(new Float32Array(w.data), new Float32Array(expected[i]!.data)), w.name).toBeLessThan(1e-6));
  const start = await trainer(chosen);
  const initial = (await start.saveWeights()).weights;
  start.dispose();
  expect(expected.some((w, i) => relativeError(new Float32Array(w.data), new Float32Array(initial[i]!.data)) > 1e-4), 'the run moved the weights').toBe(true);
}

/** MobileNetV2 α=0.35 as the form offers it: served by this site where `npm run assets` found it (../shared here). */
const V2 = BACKBONES.find((b) => b.label === 'MobileNetV2 α=0.35')!;
const hasV2 = (await fetch(`/${V2.url}`, { method: 'HEAD' })).ok;

/** The CPU engine (the test server isolates the page, so it runs on threads), and `work` run with tfjs on WASM. */
async function onCpu<T>(work: (cpu: CpuEngine) => Promise<T>): Promise<T> {
  const cpu = await cpuEngine();
  expect(cpu.oneThreadReason).toBeUndefined();
  expect((await chooseBackend('wasm')).name).toBe('wasm');
  try {
    return await work(cpu);
  } finally {
    expect((await chooseBackend('webgpu')).name).toBe('webgpu');
  }
}

beforeAll(async () => {
  expect((await chooseBackend('webgpu')).name).toBe('webgpu');
});

describe('Trainer on the engine', () => {
  it('trains on the engine, resumes exactly on it, and resumes on tfjs from the same checkpoint', async () => {
    const straight = await trainer();
    expect(await straight.useEngine()).toMatch(/^the fused WebGPU engine/);
    const losses: number[] = [];
    expect(await straight.train(hooks([], losses))).toBe('finished');
    expect(losses).toHaveLength(2);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[1]!, 'the loss falls').toBeLessThan(losses[0]!);
    const expected = (await straight.saveWeights()).weights;
    const validation = await straight.evaluateSplit('validation');
    expect(validation.count).toBe(3);
    straight.dispose();

    const saved: Checkpoint[] = [];
    const first = await trainer();
    await first.useEngine();
    expect(await first.train(hooks(saved, [], 4))).toBe('stopped');
    first.dispose();
    const checkpoint = saved.at(-1)!;
    expect([checkpoint.epoch, checkpoint.batch]).toEqual([1, 1]);
    // tfjs's Adam format: the update count, then m and v for each of the 83 trainable weights.
    expect(checkpoint.optimizer).toHaveLength(1 + 2 * 83);
    expect(new Float32Array(checkpoint.optimizer[0]!.data)[0]).toBe(4);

    const resumed = await trainer();
    await resumed.loadWeights(checkpoint);
    await resumed.useEngine(checkpoint);
    expect(await resumed.train(hooks([], []), checkpoint)).toBe('finished');
    const actual = (await resumed.saveWeights()).weights;
    resumed.dispose();
    await expectResumedExactly(actual, expected);

    // The same checkpoint finished on tfjs: the two paths' f32 arithmetic differs, so close, not equal.
    const onTfjs = await trainer();
    await onTfjs.loadWeights(checkpoint);
    expect(await onTfjs.train(hooks([], []), checkpoint)).toBe('finished');
    const crossed = (await onTfjs.saveWeights()).weights;
    onTfjs.dispose();
    const worst = Math.max(...crossed.map((w, i) => relativeError(new Float32Array(w.data), new Float32Array(expected[i]!.data))));
    console.log(`engine checkpoint finished on tfjs: worst relative weight difference from the engine's own finish ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-2);
  });

  it('trains the last blocks on cached features with dropout, predicts as tfjs does, and resumes exactly', async () => {
    const lastBlocks = parseConfig({ ...config, mode: 'last-blocks', trainableBlocks: 2, dropoutRate: 0.3 });
    const straight = await trainer(lastBlocks);
    expect(await straight.cacheFeatures(() => undefined)).toBe('finished');
    expect(await straight.useEngine()).toMatch(/^the fused WebGPU engine \(.*on cached features\)/);
    const losses: number[] = [];
    expect(await straight.train(hooks([], losses))).toBe('finished');
    expect(losses.every(Number.isFinite)).toBe(true);
    const expected = (await straight.saveWeights()).weights;
    // Validation and evaluation predict through the engine; tfjs predicts the same from the synced model.
    const onEngine = await straight.predictSplit('validation');
    const reference = tf.tidy(() => straight.split.trainable.predict(straight.split.frozen!.predict(preprocess(data.validation.bitmaps, 28, lastBlocks.inputSizePx)) as tf.Tensor) as tf.Tensor);
    expect(relativeError(onEngine, await reference.data())).toBeLessThan(1e-4);
    reference.dispose();
    straight.dispose();

    const saved: Checkpoint[] = [];
    const first = await trainer(lastBlocks);
    await first.cacheFeatures(() => undefined);
    await first.useEngine();
    expect(await first.train(hooks(saved, [], 4))).toBe('stopped');
    first.dispose();
    const checkpoint = saved.at(-1)!;
    const resumed = await trainer(lastBlocks);
    await resumed.loadWeights(checkpoint);
    await resumed.cacheFeatures(() => undefined);
    await resumed.useEngine(checkpoint);
    expect(await resumed.train(hooks([], []), checkpoint)).toBe('finished');
    const actual = (await resumed.saveWeights()).weights;
    resumed.dispose();
    // Dropout's masks follow the seed and the update count, so the resumed run draws the very masks it would have.
    await expectResumedExactly(actual, expected, lastBlocks);
  });

  it('augments on the device as the tfjs path augments on the CPU, and smooths labels as it does: the same first step', async () => {
    // One step of all 12 drawings: its loss is computed before any update, so it is equal only for equal inputs.
    const oneStep = { ...config, epochs: 1, batchSize: 12 };
    const augmented = parseConfig({ ...oneStep, augmentation: { scale: 0.2, rotationDeg: 15, translatePx: 2, thickenProbability: 0.5 } });
    const firstLoss = async (chosen: typeof config, engine: boolean): Promise<number> => {
      const t = await trainer(chosen);
      if (engine) expect(await t.useEngine()).toMatch(/^the fused WebGPU engine/);
      const losses: number[] = [];
      await t.train(hooks([], losses));
      t.dispose();
      return losses[0]!;
    };
    const onEngine = await firstLoss(augmented, true);
    const onTfjs = await firstLoss(augmented, false);
    const plain = await firstLoss(parseConfig(oneStep), true);
    expect(Math.abs(onEngine - onTfjs) / onTfjs).toBeLessThan(1e-4);
    expect(Math.abs(onEngine - plain) / plain, 'augmentation changed the inputs').toBeGreaterThan(1e-3);
    // Label smoothing reaches both paths' losses from the config.
    const smoothed = parseConfig({ ...oneStep, labelSmoothing: 0.1 });
    const smoothedOnEngine = await firstLoss(smoothed, true);
    const smoothedOnTfjs = await firstLoss(smoothed, false);
    expect(Math.abs(smoothedOnEngine - smoothedOnTfjs) / smoothedOnTfjs).toBeLessThan(1e-4);
    expect(Math.abs(smoothedOnEngine - plain) / plain, 'label smoothing changed the loss').toBeGreaterThan(1e-3);
  });

  it('trains on the engine\'s WebAssembly path where tfjs runs on WASM, resumes exactly there, and continues a WebGPU checkpoint', async () => {
    // The test server sends COOP/COEP (vite.config.ts), so this page is isolated and the CPU path runs on threads.
    const cpu = await cpuEngine();
    const run = async (engine: 'gpu' | 'cpu', stopAfterBatches = Infinity, from?: Checkpoint) => {
      const t = await trainer();
      if (from !== undefined) await t.loadWeights(from);
      expect(await t.useEngine(from, engine === 'cpu' ? cpu : undefined)).toMatch(engine === 'cpu' ? /^the engine's WebAssembly path \(.*SIMD, \d+ threads\)/ : /^the fused WebGPU engine/);
      const saved: Checkpoint[] = [];
      const outcome = await t.train(hooks(saved, [], stopAfterBatches), from);
      const weights = (await t.saveWeights()).weights;
      t.dispose();
      return { outcome, weights, checkpoint: saved.at(-1)! };
    };
    const straight = await onCpu(async () => run('cpu'));
    expect(straight.outcome).toBe('finished');
    const stopped = await onCpu(async () => run('cpu', 4));
    expect(stopped.outcome).toBe('stopped');
    const resumed = await onCpu(async () => run('cpu', Infinity, stopped.checkpoint));
    await expectResumedExactly(resumed.weights, straight.weights);

    // A checkpoint the WebGPU engine wrote, finished on the CPU, against the same run finished on WebGPU: the two
    // paths' f32 sums differ in order, so close, not equal. (Whole runs on the two paths drift further apart: with 5
    // drawings a batch at 32 px the last BatchNormalizations normalise over 5 values, which amplifies last-bit
    // differences; each path's single step is checked against tfjs in step.test.ts and the WASM unit tests.)
    const gpuStraight = await run('gpu');
    const onGpu = await run('gpu', 4);
    const crossed = await onCpu(async () => run('cpu', Infinity, onGpu.checkpoint));
    const worst = Math.max(...crossed.weights.map((w, i) => relativeError(new Float32Array(w.data), new Float32Array(gpuStraight.weights[i]!.data))));
    console.log(`WebGPU engine checkpoint finished on the WebAssembly engine: worst relative weight difference from finishing on WebGPU ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-2);
  });

  it.skipIf(!hasV2)('trains MobileNet v2 (Teachable Machine\'s backbone, the whole network) on both engines, and resumes exactly on the CPU one', async () => {
    const v2 = parseConfig({ ...config, model: { label: V2.label, url: V2.url } });
    const run = async (cpu: CpuEngine | undefined, stopAfterBatches = Infinity, from?: Checkpoint) => {
      const t = await trainer(v2);
      if (from !== undefined) await t.loadWeights(from);
      expect(await t.useEngine(from, cpu)).toMatch(cpu === undefined ? /^the fused WebGPU engine \(\d+ layers\)/ : /^the engine's WebAssembly path \(\d+ layers, SIMD, \d+ threads\)/);
      const [saved, losses]: [Checkpoint[], number[]] = [[], []];
      const outcome = await t.train(hooks(saved, losses, stopAfterBatches), from);
      const weights = (await t.saveWeights()).weights;
      t.dispose();
      return { outcome, weights, losses, checkpoint: saved.at(-1)! };
    };
    const gpu = await run(undefined);
    expect(gpu.outcome).toBe('finished');
    expect(gpu.losses).toHaveLength(2);
    expect(gpu.losses.every(Number.isFinite)).toBe(true);
    const straight = await onCpu((cpu) => run(cpu));
    expect(straight.outcome).toBe('finished');
    expect(straight.losses.every(Number.isFinite)).toBe(true);
    const stopped = await onCpu((cpu) => run(cpu, 4));
    expect(stopped.outcome).toBe('stopped');
    const resumed = await onCpu((cpu) => run(cpu, Infinity, stopped.checkpoint));
    await expectResumedExactly(resumed.weights, straight.weights, v2);
  });
});
