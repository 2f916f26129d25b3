// Bench-only page script (main thread): counts the WebGPU compute dispatches and queue submits of one training
// step of the app's Trainer on tfjs's WebGPU backend, by wrapping the WebGPU API's own entry points, so the count
// means the same on any hardware. Exposes `countTfjsDispatches` on window for Playwright to call.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { loadBackbone } from '../../src/core/mobilenet.ts';
import { Random } from '../../src/core/random.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../src/core/train-config.ts';
import { Trainer } from '../../src/core/training.ts';

export interface DispatchRequest {
  modelUrl: string;
  mode: TrainConfig['mode'];
  inputSizePx: number;
  batchSize: number;
}

export interface DispatchResult {
  backend: string;
  dispatchesPerStep: number;
  submitsPerStep: number;
  msPerStep: number;
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

async function countTfjsDispatches(request: DispatchRequest): Promise<DispatchResult> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend here.');
  await tf.ready();
  const classes = 10;
  const count = request.batchSize * 3;
  const random = new Random(1);
  const bitmaps = Uint8Array.from({ length: count * 784 }, () => (random.next() < 0.2 ? 255 : 0));
  const labels = Int32Array.from({ length: count }, (_, i) => i % classes);
  const none = { bitmaps: new Uint8Array(0), labels: new Int32Array(0) };
  const config = parseConfig({ ...PRESETS['whole network'], mode: request.mode, inputSizePx: request.inputSizePx, batchSize: request.batchSize, epochs: 1, augmentation: { scale: 0, rotationDeg: 0, translatePx: 0, thickenProbability: 0 } });
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
  const result = {
    backend: tf.getBackend(), dispatchesPerStep: (last.dispatches - first.dispatches) / measured,
    submitsPerStep: (last.submits - first.submits) / measured, msPerStep: (last.at - first.at) / measured,
  };
  trainer.dispose();
  return result;
}

(window as unknown as { countTfjsDispatches: typeof countTfjsDispatches }).countTfjsDispatches = countTfjsDispatches;
