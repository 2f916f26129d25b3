// Bench-only page script (main thread): counts the WebGPU compute dispatches and queue submits of one training
// step of the app's Trainer on tfjs's WebGPU backend and of the engine's fused step (src/core/engine/step.ts) on
// the same network, by wrapping the WebGPU API's own entry points, so the counts mean the same on any hardware; and
// times both here. Exposes `countDispatches` on window for Playwright to call.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { GpuContext } from '../../src/core/engine/gpu.ts';
import { packWeights, planMobileNetV1 } from '../../src/core/engine/plan.ts';
import { EngineTrainer } from '../../src/core/engine/step.ts';
import { FINE_TUNE_BN_MOMENTUM, loadBackbone } from '../../src/core/training/mobilenet.ts';
import { Random } from '../../src/core/training/random.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../src/core/training/train-config.ts';
import { Trainer } from '../../src/core/training/training.ts';

export interface DispatchRequest {
  modelUrl: string;
  mode: TrainConfig['mode'];
  inputSizePx: number;
  batchSize: number;
}

export interface StepCount {
  dispatchesPerStep: number;
  submitsPerStep: number;
  msPerStep: number;
}

export interface DispatchResult {
  backend: string;
  tfjs: StepCount;
  /** Null for the other modes: the engine's count here is of the whole network's fused step. */
  engine: StepCount | null;
}

const counts = { dispatches: 0, submits: 0 };
const pass = GPUComputePassEncoder.prototype;
const dispatch = pass.dispatchWorkgroups;
pass.dispatchWorkgroups = function (...args: Parameters<typeof dispatch>) {
  counts.dispatches++;
  return dispatch.apply(this, args);
};
const queue = GPUQueue.prototype;
const submit = queue.submit;
queue.submit = function (...args: Parameters<typeof submit>) {
  counts.submits++;
  return submit.apply(this, args);
};

async function countDispatches(request: DispatchRequest): Promise<DispatchResult> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend here.');
  await tf.ready();
  const classes = 10;
  const count = request.batchSize * 3;
  const random = new Random(1);
  const bitmaps = Uint8Array.from({ length: count * 784 }, () => (random.next() < 0.2 ? 255 : 0));
  const labels = Int32Array.from({ length: count }, (_, i) => i % classes);
  const none = { bitmaps: new Uint8Array(0), labels: new Int32Array(0) };
  const config = parseConfig({ ...PRESETS['whole network'], mode: request.mode, inputSizePx: request.inputSizePx, batchSize: request.batchSize, epochs: 1, dropoutRate: 0, augmentation: { scale: 0, rotationDeg: 0, translatePx: 0, thickenProbability: 0 } });
  const backbone = await loadBackbone(tf.io.http(request.modelUrl), request.inputSizePx);
  const trainer = new Trainer(config, backbone, { classNames: Array.from({ length: classes }, (_, i) => `c${i}`), imageSizePx: 28, train: { bitmaps, labels }, validation: none, test: none });
  await trainer.cacheFeatures(() => {});
  // Three steps: the first compiles shaders; the second and third are counted, from the end of the first step's
  // batch event to the end of the third's (the epoch's checkpoint after it is not a training step).
  const marks: { dispatches: number; submits: number; at: number }[] = [];
  await trainer.train({
    onProgress: (p) => {
      if (p.kind === 'batch') marks.push({ ...counts, at: performance.now() });
    },
    saveCheckpoint: async () => {},
    betweenBatches: async () => 'go',
    checkpointEverySec: 1e9,
  });
  const first = marks[0]!, last = marks.at(-1)!;
  const measured = marks.length - 1;
  const tfjs = { dispatchesPerStep: (last.dispatches - first.dispatches) / measured, submitsPerStep: (last.submits - first.submits) / measured, msPerStep: (last.at - first.at) / measured };
  const backend = tf.getBackend();
  const engine = request.mode === 'whole' ? await engineSteps(trainer, bitmaps, labels, request.batchSize) : null;
  trainer.dispose();
  return { backend, tfjs, engine };
}

/** The engine's fused step on the same network, weights and batch: three steps, the last two counted. */
async function engineSteps(trainer: Trainer, bitmaps: Uint8Array, labels: Int32Array, batch: number): Promise<StepCount> {
  const gpu = await GpuContext.create();
  if (gpu === null) throw new Error('No WebGPU adapter for the engine.');
  const plan = planMobileNetV1(trainer.split.trainable, trainer.data.classNames.length);
  const engine = new EngineTrainer(gpu, plan, { batch, momentum: FINE_TUNE_BN_MOMENTUM });
  const weights = await packWeights(plan, trainer.split.trainable);
  engine.setWeights(weights.params, weights.state);
  // As the Trainer steps it: stored bitmaps in, preprocessed on the device (tfjs's count includes its preprocessing too).
  const drawings = bitmaps.subarray(0, batch * 784);
  const classes = Uint32Array.from(labels.subarray(0, batch));
  const marks: { dispatches: number; submits: number; at: number }[] = [];
  for (let step = 0; step < 3; step++) {
    engine.stepBitmaps(drawings, classes, 0.001);
    // Reading the metrics waits for the GPU: the step is done when it returns.
    await engine.readMetrics();
    marks.push({ ...counts, at: performance.now() });
  }
  engine.destroy();
  gpu.destroy();
  const first = marks[0]!, last = marks.at(-1)!;
  // Each step's metrics read is one more submit (the copy): not part of a step when metrics are read per epoch.
  return { dispatchesPerStep: (last.dispatches - first.dispatches) / 2, submitsPerStep: (last.submits - first.submits) / 2 - 1, msPerStep: (last.at - first.at) / 2 };
}

(window as unknown as { countDispatches: typeof countDispatches }).countDispatches = countDispatches;
