// The training benchmark on Dawn from Node (the WebGPU implementation inside Chrome, without Chrome), for a session
// lent a GPU machine: bundled by `npm run bench:gpu-kit` into one file with tfjs and the project's core, run there by
// ../shared/gpu/device-run.sh. For MobileNet v1 α=0.25, whole network: samples/s of tfjs's WebGPU backend and of the
// engine at 48 and 96 px with batch 64 and 256, dispatches a step, and the engine's guess latency for one drawing.
// Every phase has a time budget, so a slow device still reports; results go to $OUT/engine-bench.json and stdout.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { folderHandler, startDawn } from './dawn.ts';

const here = path.dirname(process.argv[1] ?? '.');
const out = process.env['OUT'] ?? here;
const budgetSec = Number(process.env['BUDGET_SEC'] ?? 420);
const started = performance.now();
const elapsed = (): number => (performance.now() - started) / 1000;

const { adapter } = await startDawn();
const { Trainer } = await import('../../../src/core/training/training.ts');
const { loadBackbone } = await import('../../../src/core/training/mobilenet.ts');
const { parseConfig, PRESETS } = await import('../../../src/core/training/train-config.ts');
const { Random } = await import('../../../src/core/training/random.ts');
const { GpuContext } = await import('../../../src/core/engine/gpu.ts');
const { packWeights, planMobileNetV1 } = await import('../../../src/core/engine/plan.ts');
const { EngineTrainer } = await import('../../../src/core/engine/step.ts');
const { FINE_TUNE_BN_MOMENTUM } = await import('../../../src/core/training/mobilenet.ts');

// Counted on the WebGPU API itself, for both paths.
const counts = { dispatches: 0 };
const pass = (globalThis as unknown as { GPUComputePassEncoder: { prototype: GPUComputePassEncoder } }).GPUComputePassEncoder.prototype;
const dispatch = pass.dispatchWorkgroups;
pass.dispatchWorkgroups = function (...args: Parameters<typeof dispatch>) {
  counts.dispatches++;
  return dispatch.apply(this, args);
};

interface Row { path: 'tfjs' | 'engine'; inputSizePx: number; batch: number; samplesPerSec: number | null; dispatchesPerStep: number | null; note?: string }
const rows: Row[] = [];
const report: Record<string, unknown> = { adapter, rows, guessMs: null };

async function save(): Promise<void> {
  await writeFile(path.join(out, 'engine-bench.json'), JSON.stringify(report, null, 2));
}

async function measure(inputSizePx: number, batch: number): Promise<void> {
  const classes = 10;
  const random = new Random(1);
  const count = batch * 6;
  const bitmaps = Uint8Array.from({ length: count * 784 }, () => (random.next() < 0.2 ? 255 : 0));
  const labels = Int32Array.from({ length: count }, (_, i) => i % classes);
  const none = { bitmaps: new Uint8Array(0), labels: new Int32Array(0) };
  const config = parseConfig({ ...PRESETS['whole network'], inputSizePx, batchSize: batch, epochs: 1, dropoutRate: 0, augmentation: { scale: 0, rotationDeg: 0, translatePx: 0, thickenProbability: 0 } });
  const trainer = new Trainer(config, await loadBackbone(folderHandler(path.join(here, 'models', 'mobilenet_v1_0.25_224')), inputSizePx), { classNames: Array.from({ length: classes }, (_, i) => `c${i}`), imageSizePx: 28, train: { bitmaps, labels }, validation: none, test: none });
  for (const which of ['tfjs', 'engine'] as const) {
    if (elapsed() > budgetSec) {
      rows.push({ path: which, inputSizePx, batch, samplesPerSec: null, dispatchesPerStep: null, note: 'time budget spent' });
      continue;
    }
    if (which === 'engine') await trainer.useEngine();
    // One epoch compiles the kernels; the next is timed and counted whole, to its end (the engine reads its loss
    // back only at an epoch's end, so per-batch events would not mark its steps). Its checkpoint's readbacks count.
    const hooks = { onProgress: () => {}, saveCheckpoint: async () => {}, betweenBatches: async () => 'go' as const, checkpointEverySec: 1e9 };
    await trainer.train(hooks);
    const before = { dispatches: counts.dispatches, at: performance.now() };
    await trainer.train(hooks);
    const steps = count / batch;
    rows.push({ path: which, inputSizePx, batch, samplesPerSec: count / ((performance.now() - before.at) / 1000), dispatchesPerStep: (counts.dispatches - before.dispatches) / steps });
    console.log(JSON.stringify(rows.at(-1)));
    await save();
  }
  trainer.dispose();
}

async function guessLatency(): Promise<void> {
  const gpu = await GpuContext.create();
  if (gpu === null) return;
  const trainer = new Trainer(parseConfig({ ...PRESETS['whole network'], inputSizePx: 48, dropoutRate: 0 }), await loadBackbone(folderHandler(path.join(here, 'models', 'mobilenet_v1_0.25_224')), 48), { classNames: ['a', 'b', 'c'], imageSizePx: 28, train: { bitmaps: new Uint8Array(0), labels: new Int32Array(0) }, validation: { bitmaps: new Uint8Array(0), labels: new Int32Array(0) }, test: { bitmaps: new Uint8Array(0), labels: new Int32Array(0) } });
  const plan = planMobileNetV1(trainer.split.trainable, 3, { inference: true });
  const engine = new EngineTrainer(gpu, plan, { batch: 1, momentum: FINE_TUNE_BN_MOMENTUM });
  const weights = await packWeights(plan, trainer.split.trainable);
  engine.setWeights(weights.params, weights.state);
  const bitmap = Uint8Array.from({ length: 784 }, (_, i) => (i % 7 === 0 ? 255 : 0));
  const times: number[] = [];
  for (let n = 0; n < 60 && elapsed() < budgetSec + 60; n++) {
    const t = performance.now();
    await engine.predictBitmaps(bitmap, 1);
    if (n >= 10) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  report['guessMs'] = { p50: times[Math.floor(times.length / 2)] ?? null, p95: times[Math.floor(times.length * 0.95)] ?? null, samples: times.length };
  engine.destroy();
  gpu.destroy();
  trainer.dispose();
}

console.log(`adapter: ${String(adapter)}`);
const sizes = (process.env['SIZES'] ?? '48x64,96x64,48x256,96x256').split(',').map((s) => s.split('x').map(Number) as [number, number]);
for (const [size, batch] of sizes) await measure(size, batch);
await guessLatency();
await save();
console.log(JSON.stringify(report));
