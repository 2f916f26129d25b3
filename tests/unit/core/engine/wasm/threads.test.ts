// The engine's CPU path on several threads (threads.ts, parallel.ts; helpers are worker_threads here): the same
// bits as on one thread, step after step, for thread counts that split the shapes evenly and unevenly; and a
// helper that cannot start leaves the trainer on one thread, saying why.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packWeights, planMobileNetV1, type EnginePlan } from '../../../../../src/core/engine/plan.ts';
import { ranges } from '../../../../../src/core/engine/wasm/parallel.ts';
import { WasmEngineTrainer } from '../../../../../src/core/engine/wasm/trainer.ts';
import { FINE_TUNE_BN_MOMENTUM } from '../../../../../src/core/training/mobilenet.ts';
import { Random } from '../../../../../src/core/training/random.ts';
import { engineWasm, sketches, wholeModel } from './reference.ts';
import { nodeThreads } from './threads-node.ts';

// 33 px: stride-2 layers on odd sizes; batch 7: drawings that do not divide among 2 or 3 threads.
const SIZE = 33, BATCH = 7, CLASSES = 3, STEPS = 3;

let wasm: Uint8Array;
let plan: EnginePlan;
let start: { params: Float32Array; state: Float32Array };
beforeAll(async () => {
  await tf.setBackend('cpu');
  wasm = await engineWasm();
  const model = await wholeModel(SIZE, CLASSES);
  plan = planMobileNetV1(model.trainable, CLASSES);
  start = await packWeights(plan, model.trainable);
  model.trainable.dispose();
});

/** Weights, Adam's moments, metrics and predictions after STEPS steps on `threads` threads. */
async function train(threads: number) {
  const engine = await WasmEngineTrainer.create(wasm, plan, { batch: BATCH, momentum: FINE_TUNE_BN_MOMENTUM, seed: 3 }, threads > 1 ? await nodeThreads(threads) : undefined);
  try {
    expect(engine.threadFailure).toBeNull();
    expect(engine.threads).toBe(threads);
    engine.setWeights(start.params, start.state);
    const random = new Random(11);
    for (let step = 0; step < STEPS; step++) {
      const labels = Uint32Array.from({ length: BATCH }, (_, i) => (i + step) % CLASSES);
      engine.stepBitmaps(sketches(BATCH, random), labels, 0.01);
    }
    return { ...await engine.readWeights(), ...await engine.readAdamState(), metrics: await engine.readMetrics(), predictions: await engine.predictBitmaps(sketches(5, new Random(2)), 5) };
  } finally {
    engine.destroy();
  }
}

describe('the engine on several threads', () => {
  it('splits into ranges that cover everything once, aligned', () => {
    expect(ranges(10, 3, 4)).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(ranges(7, 2, 1)).toEqual([[0, 4], [4, 7]]);
    expect(ranges(8, 4, 4)).toEqual([[0, 4], [4, 8]]);
    expect(ranges(3, 8, 4)).toEqual([[0, 3]]);
    expect(ranges(0, 2, 1)).toEqual([]);
  });

  it('trains to the same bits on 2 and 3 threads as on one: weights, moving statistics, Adam, loss and predictions', async () => {
    const one = await train(1);
    for (const threads of [2, 3]) {
      const many = await train(threads);
      for (const key of ['params', 'state', 'm', 'v', 'predictions'] as const) {
        const differing = one[key].findIndex((value, i) => !Object.is(value, many[key][i]));
        expect(differing, `${key}: first differing index on ${threads} threads`).toBe(-1);
      }
      expect(many.metrics).toEqual(one.metrics);
    }
    // Not a run that stood still: the weights moved.
    expect(one.params.some((value, i) => value !== start.params[i])).toBe(true);
  }, 120_000);

  it('stays on one thread, saying why, when a helper thread cannot start', async () => {
    const threaded = await nodeThreads(2);
    const engine = await WasmEngineTrainer.create(wasm, plan, { batch: BATCH, momentum: FINE_TUNE_BN_MOMENTUM }, {
      ...threaded,
      start: (_init, failed) => {
        setTimeout(() => failed('no worker here'), 1);
        return { terminate: () => {} };
      },
    });
    expect(engine.threads).toBe(1);
    expect(engine.threadFailure).toMatch(/engine thread 1 failed: no worker here/);
    engine.setWeights(start.params, start.state);
    engine.stepBitmaps(sketches(BATCH, new Random(1)), new Uint32Array(BATCH), 0.01);
    expect((await engine.readMetrics()).steps).toBe(1);
  });
});
