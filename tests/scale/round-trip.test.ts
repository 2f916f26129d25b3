// `npm run scale:test`: the cluster trainer's round trip on this machine's CPUs. The app's own code writes the
// recipe's numbers for fixed inputs and scale/tests/test_recipe.py checks Python gives the same; then
// `torchrun --nproc_per_node=2` trains a tiny config on real ../shared bitmaps, and the app's Import code loads
// what it wrote and must predict what PyTorch predicted on the same test drawings.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { augmentBitmaps } from '../../src/core/training/augment.ts';
import { PREPROCESSING } from '../../src/core/exchange/export.ts';
import { evaluate } from '../../src/core/inference/metrics.ts';
import { checkModelFiles, loadChecked } from '../../src/core/exchange/model-import.ts';
import { preprocess } from '../../src/core/training/mobilenet.ts';
import { decodeNpy } from '../../src/core/data/npy.ts';
import { epochOrder, hashToUnit, Random, splitOf } from '../../src/core/training/random.ts';
import { learningRateAt, parseConfig, PRESETS, type TrainConfig } from '../../src/core/training/train-config.ts';
import { makeNpy } from '../unit/fixtures.ts';
import { runPython, torchrunArgs } from './torchrun.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SHARED_BITMAPS = path.resolve(ROOT, '..', 'shared', 'quickdraw', 'numpy_bitmap');
const CATEGORIES = ['cat', 'airplane', 'rainbow'];
const ROWS = 200;

const CONFIG: TrainConfig = parseConfig({
  ...PRESETS['whole network'], name: 'scale round trip', inputSizePx: 32, epochs: 1, batchSize: 32, learningRateSchedule: 'cosine',
  dataset: { datasetId: 'quickdraw', categories: CATEGORIES, maxPerCategory: ROWS }, split: { validationFraction: 0.1, testFraction: 0.2 },
});

/** Rows of a category: real ones from ../shared, or generated bars at a class-specific place. */
async function rows(category: string): Promise<Uint8Array> {
  const file = path.join(SHARED_BITMAPS, `${category}.npy`);
  if (existsSync(file)) return decodeNpy(new Uint8Array(await readFile(file)), file, ROWS).bitmaps;
  const out = new Uint8Array(ROWS * 784);
  const c = CATEGORIES.indexOf(category);
  for (let n = 0; n < ROWS; n++) for (let y = 4; y < 24; y++) for (let x = 0; x < 3; x++) out[n * 784 + y * 28 + 3 + c * 9 + x + (n % 3)] = 255;
  return out;
}

function npyOf(bitmaps: Uint8Array): Uint8Array {
  const bytes = makeNpy(bitmaps.length / 784);
  bytes.set(bitmaps, bytes.length - bitmaps.length);
  return bytes;
}

const b64 = (bytes: Uint8Array | Float32Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** What the app computes for fixed inputs, for scale/tests/test_recipe.py to reproduce. */
async function recipeFixtures(drawings: Map<string, Uint8Array>): Promise<object> {
  const ids = [...drawings.keys()].flatMap((c) => Array.from({ length: ROWS }, (_, i) => `${c}/${i}`));
  ids.push('The Eiffel Tower/7', 'café/12', '雨伞/3', '🐱/0');
  const sample = drawings.get('cat')!.subarray(0, 6 * 784);
  const augmentCase = (seed: number, skipImages: number, options: TrainConfig['augmentation']) => {
    const random = new Random(seed);
    for (let i = 0; i < skipImages * ((options.flipProbability ?? 0) > 0 ? 6 : 5); i++) random.next();
    return { seed, skipImages, options, bitmaps: b64(sample), out: b64(augmentBitmaps(sample, 28, options, random)) };
  };
  const preprocessCase = async (inputSizePx: number) => {
    const tensor = preprocess(sample, 28, inputSizePx);
    const values = await tensor.data() as Float32Array;
    tensor.dispose();
    return { inputSizePx, bitmaps: b64(sample), values: b64(values) };
  };
  const configCase = (input: object, why: string) => {
    try {
      return { input, parsed: parseConfig(input), why };
    } catch {
      return { input, parsed: null, why };
    }
  };
  const random = new Random(12345);
  type Schedule = Pick<TrainConfig, 'learningRate' | 'learningRateSchedule' | 'warmupEpochs' | 'epochs'>;
  const cosine: Schedule = { learningRate: 0.003, learningRateSchedule: 'cosine', warmupEpochs: 0, epochs: 4 };
  const constant: Schedule = { learningRate: 0.001, learningRateSchedule: 'constant', warmupEpochs: 0, epochs: 4 };
  const warm: Schedule = { ...cosine, warmupEpochs: 1.5 };
  const warmConstant: Schedule = { ...constant, warmupEpochs: 1 };
  return {
    hash: ids.slice(-20).map((id) => ({ id, unit: hashToUnit(id) })),
    split: { validationFraction: 0.1, testFraction: 0.2, ids, parts: ids.map((id) => splitOf(id, 0.1, 0.2)) },
    random: { seed: 12345, values: Array.from({ length: 50 }, () => random.next()) },
    epochOrder: [[1, 1, 0], [457, 1, 0], [457, 1, 3], [100, 4294967295, 7]].map(([count, seed, epoch]) => ({ count, seed, epoch, order: [...epochOrder(count!, seed!, epoch!)] })),
    augment: [augmentCase(1, 0, CONFIG.augmentation), augmentCase(7, 123, { scale: 0.3, rotationDeg: 40, translatePx: 4, thickenProbability: 1 }),
      augmentCase(3, 40, { scale: 0.1, rotationDeg: 10, translatePx: 1.5, thickenProbability: 0.2, flipProbability: 0.5 })],
    preprocess: [await preprocessCase(28), await preprocessCase(32), await preprocessCase(96), await preprocessCase(224)],
    learningRate: [...[0, 1, 17, 99, 100, 150].map((step) => [cosine, step, 100] as const), [constant, 5, 10] as const, [cosine, 0, 1] as const,
      ...[0, 10, 36, 37, 38, 60, 99].map((step) => [warm, step, 100] as const), ...[0, 9, 10, 11].map((step) => [warmConstant, step, 43] as const), [warm, 0, 1] as const]
      .map(([config, step, total]) => ({ config, step, total, rate: learningRateAt(config, step, total) })),
    configs: [
      configCase(PRESETS['tiny']!, 'a preset'),
      configCase({ name: 'bare', model: { label: 'm', url: 'm.json' }, mode: 'head', inputSizePx: 96, epochs: 1, batchSize: 8, learningRate: 0.01, dataset: { datasetId: 'd', categories: ['a', 'b'] } }, 'defaults filled'),
      configCase({ ...PRESETS['tiny'], epochs: 0 }, 'epochs below 1'),
      configCase({ ...PRESETS['tiny'], colour: 'red' }, 'an unknown field'),
      configCase({ ...PRESETS['tiny'], mode: 'most' }, 'a mode not in the enum'),
      configCase({ ...PRESETS['tiny'], dataset: { datasetId: 'd', categories: ['a', 'a'] } }, 'a category twice'),
      configCase({ ...PRESETS['tiny'], split: { validationFraction: 0.5, testFraction: 0.5 } }, 'no training drawings left'),
    ],
  };
}

/** Python's output; a run past `timeoutMs` is killed (torchrun's workers too) and fails with what it printed. */
const python = (args: string[], env: Record<string, string> = {}, timeoutMs = 110_000): Promise<string> => runPython(args, { cwd: ROOT, env, timeoutMs });

interface Predictions { ids: string[]; labels: number[]; probabilities: number[][] }
interface ClusterMetrics { top1: number; top3: number; counts: Record<string, number>; trainedWith: { processes: number; engine: string }; samplesPerSec: number }

describe('npm run scale:test', () => {
  let dir: string;
  const drawings = new Map<string, Uint8Array>();
  let trainLog = '';

  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(path.join(tmpdir(), 'doodle-lab-scale-'));
    await mkdir(path.join(dir, 'train'));
    for (const category of CATEGORIES) {
      drawings.set(category, await rows(category));
      await writeFile(path.join(dir, 'train', `${category}.npy`), npyOf(drawings.get(category)!));
    }
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(CONFIG));
    await writeFile(path.join(dir, 'fixtures.json'), JSON.stringify(await recipeFixtures(drawings)));
    // One thread per process: two processes share this machine's two cores.
    trainLog = await python([...await torchrunArgs(2),
      '--config', path.join(dir, 'config.json'), '--train-source', path.join(dir, 'train'), '--out', path.join(dir, 'out'), '--threads', '1', '--predictions', '100000'], {}, 230_000);
  }, 240_000);

  it('scale/recipe.py gives the app\'s split, random stream, augmentation, input tensors, schedule and config checks; data reads folders and URLs, and leaves training drawings out of a separate test source', async () => {
    const output = await python(['-m', 'unittest', '-v', 'scale.tests.test_recipe', 'scale.tests.test_data'], { SCALE_FIXTURES: path.join(dir, 'fixtures.json') });
    expect(output).toMatch(/Ran 12 tests/);
    expect(output).toMatch(/\nOK\n?$/);
  });

  it('trains under torchrun with two processes and writes the files the app exports', async () => {
    expect(trainLog).toMatch(/"phase": "done"/);
    expect((await readdir(path.join(dir, 'out', 'model'))).sort()).toEqual(['metadata.json', 'model.json', 'weights.bin']);
    const metrics = JSON.parse(await readFile(path.join(dir, 'out', 'metrics.json'), 'utf8')) as ClusterMetrics;
    expect(metrics.trainedWith).toMatchObject({ engine: 'pytorch', processes: 2 });
    expect(metrics.counts['train']! + metrics.counts['validation']! + metrics.counts['test']!).toBe(CATEGORIES.length * ROWS);
    const metadata = JSON.parse(await readFile(path.join(dir, 'out', 'model', 'metadata.json'), 'utf8')) as { preprocessing: unknown; config: unknown; labels: string[]; imageSize: number };
    expect(metadata.preprocessing).toEqual(PREPROCESSING);
    expect(parseConfig(metadata.config)).toEqual(CONFIG);
    expect(metadata).toMatchObject({ labels: CATEGORIES, imageSize: 32 });
  });

  it('the app imports the model, and it predicts what PyTorch predicted on the same test drawings (≤ 1e-4)', async () => {
    const metrics = await importAndCompare(path.join(dir, 'out'), CONFIG, drawings);
    expect(metrics.top1).toBeGreaterThan(1 / CATEGORIES.length);
  });

  it('continues from an app export (the model/ of Export for a cluster), head included: last blocks with dropout', async () => {
    const config = parseConfig({ ...CONFIG, name: 'scale continued', mode: 'last-blocks', trainableBlocks: 2, dropoutRate: 0.2, augmentation: { scale: 0, rotationDeg: 0, translatePx: 0, thickenProbability: 0 } });
    await writeFile(path.join(dir, 'continued.json'), JSON.stringify(config));
    const log = await python(['-m', 'scale.train', '--config', path.join(dir, 'continued.json'), '--train-source', path.join(dir, 'train'),
      '--model-dir', path.join(dir, 'out', 'model'), '--out', path.join(dir, 'continued'), '--threads', '1', '--predictions', '100000']);
    expect(log).toMatch(/"trainedBlocks": 2, "headFromModel": true/);
    const topology = JSON.parse(await readFile(path.join(dir, 'continued', 'model', 'model.json'), 'utf8')) as { modelTopology: { config: { layers: { name: string }[] } } };
    expect(topology.modelTopology.config.layers.map((l) => l.name).slice(-3)).toEqual(['head_pool', 'head_dropout', 'head_dense']);
    await importAndCompare(path.join(dir, 'continued'), config, drawings);
  });
});

/** Imports `<out>/model` with the app's Import code, predicts the app's test split and compares with PyTorch's. */
async function importAndCompare(out: string, config: TrainConfig, drawings: Map<string, Uint8Array>): Promise<ClusterMetrics> {
  const names = ['model.json', 'weights.bin', 'metadata.json'];
  const files = await Promise.all(names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(path.join(out, 'model', name))).buffer })));
  const checked = checkModelFiles(files);
  expect(checked.info).toMatchObject({ kind: 'doodle-lab', labels: CATEGORIES, imageSize: config.inputSizePx, name: config.name });
  expect(checked.info.trainedWith).toMatch(/^PyTorch .*process/);
  const model = await loadChecked(checked);
  const torch = JSON.parse(await readFile(path.join(out, 'predictions.json'), 'utf8')) as Predictions;
  const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8')) as ClusterMetrics;
  // The test split as the app draws it: ids `<category>/<row>` whose hash lands in test, category by category.
  const ids: string[] = [], labels: number[] = [];
  const bitmaps: Uint8Array[] = [];
  CATEGORIES.forEach((category, label) => {
    for (let i = 0; i < ROWS; i++) {
      if (splitOf(`${category}/${i}`, config.split.validationFraction, config.split.testFraction) !== 'test') continue;
      ids.push(`${category}/${i}`);
      labels.push(label);
      bitmaps.push(drawings.get(category)!.subarray(i * 784, (i + 1) * 784));
    }
  });
  expect(torch.ids).toEqual(ids);
  expect(torch.labels).toEqual(labels);
  const packed = new Uint8Array(bitmaps.length * 784);
  bitmaps.forEach((b, i) => packed.set(b, i * 784));
  const input = preprocess(packed, 28, checked.info.imageSize);
  const output = model.predict(input) as tf.Tensor;
  const ours = await output.data() as Float32Array;
  tf.dispose([input, output]);
  model.dispose();
  const theirs = Float32Array.from(torch.probabilities.flat());
  expect(ours.length).toBe(theirs.length);
  let maxDiff = 0;
  ours.forEach((p, i) => { maxDiff = Math.max(maxDiff, Math.abs(p - theirs[i]!)); });
  console.log(`${config.name}: max |tfjs − PyTorch| over ${ids.length} drawings × ${CATEGORIES.length} classes = ${maxDiff.toExponential(2)}`);
  expect(maxDiff).toBeLessThanOrEqual(1e-4);
  // The app's evaluation of the imported model scores what the cluster reported.
  expect(evaluate(ours, labels, CATEGORIES).top1).toBeCloseTo(metrics.top1, 3);
  return metrics;
}
