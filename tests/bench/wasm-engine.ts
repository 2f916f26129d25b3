// `npm run bench:wasm` (Node): training samples/s on the CPU for MobileNet v1 α=0.25 (or `--model FOLDER`, another
// backbone `npm run assets` serves, such as mobilenet_v2_0.35_224), whole network, 48 px (or `--size PX`), batch 64, real weights (public/assets) and real drawings (../shared's Quick, Draw! .npy files): the engine's WASM path
// (src/core/engine/wasm) on one thread and on one thread a core (worker_threads, as the app's isolated pages run it),
// tfjs on its WASM backend (the app's CPU path before the engine), and PyTorch on the same machine when
// /usr/bin/python3 has torch (../shared/gpu/torch_peer.py, one epoch; MobileNet v1 only). Last line: JSON with
// `cpuSamplesPerSec: { engine, tfjs, native }` (engine: all cores; null for a column that could not run, with the
// reason), `engineOneThread`, and, as other work may load the machine, each one's samples per second of its own CPU
// time (`perCpuSecond`, all threads counted).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { DEFAULT_CATEGORIES } from '../../src/core/data/categories.ts';
import { packWeights, planMobileNetV1 } from '../../src/core/engine/plan.ts';
import { WasmEngineTrainer } from '../../src/core/engine/wasm/trainer.ts';
import { FINE_TUNE_BN_MOMENTUM, loadBackbone, preprocess, splitBackbone, type SplitModel } from '../../src/core/training/mobilenet.ts';
import { decodeNpy } from '../../src/core/data/npy.ts';
import { registerWasmTrainingKernels } from '../../src/core/training/wasm-training.ts';
import { engineWasm } from '../unit/core/engine/wasm/reference.ts';
import { nodeThreads } from '../unit/core/engine/wasm/threads-node.ts';
import { MOBILENET_DIR, folderHandler } from '../unit/model-fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const NPY_DIR = path.resolve(ROOT, '..', 'shared', 'quickdraw', 'numpy_bitmap');
const TORCH_PEER = path.resolve(ROOT, '..', 'shared', 'gpu', 'torch_peer.py');
const PYTHON = '/usr/bin/python3';
const DEFAULT_SIZE = 48, BATCH = 64, LEARNING_RATE = 0.001;
const CLASSES = DEFAULT_CATEGORIES.length;

/** `batches` batches of real drawings, the ten default categories in turn, with their labels. */
async function drawings(batches: number): Promise<{ bitmaps: Uint8Array; labels: Uint32Array }[]> {
  const perCategory = Math.ceil((batches * BATCH) / CLASSES);
  const rows = await Promise.all(DEFAULT_CATEGORIES.map(async (c) => decodeNpy(new Uint8Array(await readFile(path.join(NPY_DIR, `${c}.npy`))), c, perCategory).bitmaps));
  return Array.from({ length: batches }, (_, b) => {
    const bitmaps = new Uint8Array(BATCH * 784);
    const labels = new Uint32Array(BATCH);
    for (let n = 0; n < BATCH; n++) {
      const i = b * BATCH + n, label = i % CLASSES;
      bitmaps.set(rows[label]!.subarray(Math.floor(i / CLASSES) * 784, (Math.floor(i / CLASSES) + 1) * 784), n * 784);
      labels[n] = label;
    }
    return { bitmaps, labels };
  });
}

interface Rate {
  /** Samples per second of wall-clock time. */
  wall: number;
  /** Samples per second of this process's CPU time: on a machine other work loads, what one core does. */
  cpu: number;
}

/** Samples/s over `timed` steps after `warmup` steps; `step(i)` runs the i-th. */
async function rate(step: (i: number) => Promise<void> | void, warmup: number, timed: number): Promise<Rate> {
  for (let i = 0; i < warmup; i++) await step(i);
  const start = performance.now(), cpuStart = process.cpuUsage();
  for (let i = 0; i < timed; i++) await step(warmup + i);
  const cpu = process.cpuUsage(cpuStart);
  return { wall: (timed * BATCH) / ((performance.now() - start) / 1000), cpu: (timed * BATCH) / ((cpu.user + cpu.system) / 1e6) };
}

/** The served backbone in `modelDir`, whole network trainable, with a fresh head for the ten categories. */
async function wholeNetwork(modelDir: string, size: number): Promise<SplitModel> {
  const backbone = await loadBackbone(folderHandler(modelDir), size);
  return splitBackbone(backbone, backbone.blockEnds.length, { numClasses: CLASSES, dropoutRate: 0, seed: 1 });
}

async function engineRate(data: { bitmaps: Uint8Array; labels: Uint32Array }[], steps: number, threads: number, modelDir: string, size: number): Promise<Rate> {
  const split = await wholeNetwork(modelDir, size);
  const plan = planMobileNetV1(split.trainable, CLASSES);
  const engine = await WasmEngineTrainer.create(await engineWasm(), plan, { batch: BATCH, momentum: FINE_TUNE_BN_MOMENTUM }, threads > 1 ? await nodeThreads(threads) : undefined);
  if (engine.threadFailure !== null) throw new Error(`the engine's threads did not start: ${engine.threadFailure}`);
  const weights = await packWeights(plan, split.trainable);
  split.trainable.dispose();
  engine.setWeights(weights.params, weights.state);
  const samplesPerSec = await rate((i) => engine.stepBitmaps(data[i % data.length]!.bitmaps, data[i % data.length]!.labels, LEARNING_RATE), 2, steps);
  const metrics = await engine.readMetrics();
  engine.destroy();
  console.log(`  engine (WASM SIMD, ${threads} thread${threads === 1 ? '' : 's'}): ${samplesPerSec.wall.toFixed(0)} samples/s (${samplesPerSec.cpu.toFixed(0)} per CPU-second) over ${steps} steps; mean loss ${(metrics.lossSum / metrics.samples).toFixed(3)}, accuracy ${(metrics.correct / metrics.samples * 100).toFixed(1)} %; ${(engine.memoryBytes / 2 ** 20).toFixed(0)} MiB of module memory`);
  return samplesPerSec;
}

/** What the app's Trainer runs on tfjs's WASM backend: compile and trainOnBatch on the preprocessed batch. */
async function tfjsRate(data: { bitmaps: Uint8Array; labels: Uint32Array }[], steps: number, modelDir: string, size: number): Promise<Rate> {
  setWasmPaths(`${path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')}/`);
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not start its WASM backend.');
  const split = await wholeNetwork(modelDir, size);
  split.trainable.compile({ optimizer: tf.train.adam(LEARNING_RATE), loss: 'categoricalCrossentropy' });
  const samplesPerSec = await rate(async (i) => {
    const { bitmaps, labels } = data[i % data.length]!;
    const x = preprocess(bitmaps, 28, size);
    const y = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), CLASSES);
    await split.trainable.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }, 1, steps);
  split.trainable.dispose();
  console.log(`  tfjs (WASM backend, as the app trains today): ${samplesPerSec.wall.toFixed(1)} samples/s (${samplesPerSec.cpu.toFixed(1)} per CPU-second) over ${steps} steps`);
  return samplesPerSec;
}

/** CPU seconds process `pid` (all its threads) has used, from Linux's /proc (USER_HZ = 100); null elsewhere. */
function processCpuSeconds(pid: number | undefined): number | null {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

interface NativeRun {
  samplesPerSec: number | null;
  /** Samples per second of the peer's own CPU time over its epoch (all threads), where /proc tells. */
  perCpuSecond: number | null;
  note: string;
}

/**
 * torch_peer.py for one epoch on `rowsPerCategory` drawings a category with `threads` threads: its epoch's samples/s
 * (augmentation included), or why not. The peer is stopped once the epoch's line is out (its evaluation is not timed).
 */
async function nativeRate(rowsPerCategory: number, threads: number, modelDir: string, size: number): Promise<NativeRun> {
  if (!existsSync(PYTHON) || !existsSync(TORCH_PEER)) return { samplesPerSec: null, perCpuSecond: null, note: `skipped: ${PYTHON} or ${TORCH_PEER} is missing` };
  // torch_peer.py builds the network from ALPHA, the width in the folder's name (mobilenet_v1_0.75_224).
  const alpha = /^mobilenet_v1_([\d.]+)_/.exec(path.basename(modelDir))?.[1] ?? '0.25';
  const env = { ...process.env, MODEL_DIR: modelDir, ALPHA: alpha, DATA_DIR: NPY_DIR, HIDDEN_DIR: NPY_DIR, SIZE: String(size), BATCH: String(BATCH), EPOCHS: '1', MAX_ROWS: String(rowsPerCategory), THREADS: String(threads), DEVICE: 'cpu' };
  const child = spawn(PYTHON, [TORCH_PEER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  let cpuAtStart: number | null = null, cpuAtEpoch: number | null = null;
  // torch_peer prints one JSON object a line: 'torch-start' just before training, 'torch-epoch' with the rate.
  const lines = () => out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { phase?: string; samplesPerSec?: number; train?: number });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (!out.endsWith('\n')) return;
    if (cpuAtStart === null && lines().some((line) => line.phase === 'torch-start')) cpuAtStart = processCpuSeconds(child.pid);
    if (lines().some((line) => line.phase === 'torch-epoch')) {
      cpuAtEpoch = processCpuSeconds(child.pid);
      child.kill();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const epoch = lines().find((line) => line.phase === 'torch-epoch');
  if (epoch?.samplesPerSec === undefined) {
    const reason = /No module named 'torch'/.test(err) ? 'skipped: /usr/bin/python3 has no torch (apt-get install -y python3-torch)' : `torch_peer.py exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`;
    return { samplesPerSec: null, perCpuSecond: null, note: reason };
  }
  const trained = lines().find((line) => line.phase === 'torch-start')?.train;
  const perCpuSecond = cpuAtStart === null || cpuAtEpoch === null || trained === undefined ? null : trained / (cpuAtEpoch - cpuAtStart);
  return { samplesPerSec: epoch.samplesPerSec, perCpuSecond, note: `${threads} thread${threads === 1 ? '' : 's'}` };
}

/**
 * PyTorch at its best here: one thread (as the engine runs) and one per core. On a machine other work loads, its
 * OpenMP threads can wait on each other far longer than they compute (measured here: 796 samples/s on one thread,
 * 20 on two), so the faster of the two is the native figure.
 */
async function bestNativeRate(rowsPerCategory: number, modelDir: string, size: number): Promise<NativeRun> {
  if (!path.basename(modelDir).startsWith('mobilenet_v1')) return { samplesPerSec: null, perCpuSecond: null, note: 'skipped: torch_peer.py builds MobileNet v1 only' };
  const runs = [];
  for (const threads of [...new Set([1, cpus().length])]) {
    const run = await nativeRate(rowsPerCategory, threads, modelDir, size);
    console.log(`  native (PyTorch CPU, ${threads} thread${threads === 1 ? '' : 's'}): ${run.samplesPerSec === null ? run.note : `${run.samplesPerSec} samples/s (${run.perCpuSecond?.toFixed(0) ?? '?'} per CPU-second)`}`);
    runs.push(run);
    if (run.samplesPerSec === null) return run;
  }
  const best = runs.reduce((a, b) => ((b.samplesPerSec ?? 0) > (a.samplesPerSec ?? 0) ? b : a));
  return { samplesPerSec: best.samplesPerSec, perCpuSecond: best.perCpuSecond, note: `torch_peer.py, 1 epoch of ${rowsPerCategory} drawings × ${CLASSES} categories (80 % train), best of ${runs.map((r) => `${r.samplesPerSec} (${r.note})`).join(' and ')}` };
}

export interface CpuBenchOptions {
  steps: number; tfjsSteps: number; skipTfjs: boolean; skipNative: boolean; nativeRows: number;
  /** A folder under public/assets/models/ (default: MobileNet v1 α=0.25's). */
  model?: string;
  /** Input side in pixels (default 48). */
  size?: number;
}

export interface CpuBenchResult {
  /** engine: on one thread a core. */
  cpuSamplesPerSec: { engine: number | null; tfjs: number | null; native: number | null };
  engineOneThread: number;
  engineThreads: number;
  perCpuSecond: { engine: number | null; tfjs: number | null; native: number | null };
  engineToNative: number | null;
  nativeNote: string;
  loadAverage: number | null;
}

/** The three columns side by side in this process (bench:train runs it too). */
export async function cpuBenchmark(options: CpuBenchOptions): Promise<CpuBenchResult> {
  const modelDir = options.model === undefined ? MOBILENET_DIR : path.join(path.dirname(MOBILENET_DIR), options.model);
  const size = options.size ?? DEFAULT_SIZE;
  if (!existsSync(path.join(modelDir, 'model.json'))) throw new Error(`${modelDir} has no model.json: npm run assets serves the backbones it can get`);
  console.log(`CPU training benchmark — ${path.basename(modelDir)}, whole network, ${size} px, batch ${BATCH}; ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)}`);
  await tf.setBackend('cpu');
  const data = await drawings(8);
  const engineOneThread = await engineRate(data, options.steps, 1, modelDir, size);
  const engineThreads = cpus().length;
  const engine = engineThreads > 1 ? await engineRate(data, options.steps, engineThreads, modelDir, size) : engineOneThread;
  // tfjs's own WASM heap can run out on wide networks at large inputs (MobileNet v1 α=0.75 at 128 px, batch 64):
  // that column is then empty, and the others still run.
  const tfjs = options.skipTfjs ? null : await tfjsRate(data, options.tfjsSteps, modelDir, size).catch((error: unknown) => {
    console.log(`  tfjs (WASM backend): failed: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  });
  const native: NativeRun = options.skipNative ? { samplesPerSec: null, perCpuSecond: null, note: 'skipped (--skip-native)' } : await bestNativeRate(options.nativeRows, modelDir, size);
  const ratio = native.samplesPerSec === null ? null : Math.round((engine.wall / native.samplesPerSec) * 100) / 100;
  if (ratio !== null) console.log(`  engine / native: ${ratio}× (target ≥ 0.5×)`);
  const round = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    cpuSamplesPerSec: { engine: round(engine.wall), tfjs: round(tfjs?.wall ?? null), native: round(native.samplesPerSec) }, engineToNative: ratio, nativeNote: native.note,
    engineOneThread: round(engineOneThread.wall)!, engineThreads,
    perCpuSecond: { engine: round(engine.cpu), tfjs: round(tfjs?.cpu ?? null), native: round(native.perCpuSecond) }, loadAverage: round(loadavg()[0]!),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '20' }, 'tfjs-steps': { type: 'string', default: '3' }, 'skip-tfjs': { type: 'boolean', default: false }, 'skip-native': { type: 'boolean', default: false }, 'native-rows': { type: 'string', default: '800' }, model: { type: 'string' }, size: { type: 'string', default: String(DEFAULT_SIZE) } } });
  const result = await cpuBenchmark({ steps: Number(values.steps), tfjsSteps: Number(values['tfjs-steps']), skipTfjs: values['skip-tfjs'], skipNative: values['skip-native'], nativeRows: Number(values['native-rows']), size: Number(values.size), ...(values.model === undefined ? {} : { model: values.model }) });
  console.log(JSON.stringify({ bench: 'wasm-engine', model: values.model ?? path.basename(MOBILENET_DIR), inputSizePx: Number(values.size), batchSize: BATCH, mode: 'whole', ...result }));
}

// Run as `npm run bench:wasm`; imported by bench:train for its CPU section.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
