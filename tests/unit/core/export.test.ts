// Quantized and zipped exports: they load with plain tf.loadLayersModel (from memory and from files on disk)
// and predict like the float model, a .zip passes the same import checks as loose files, a malformed .zip
// says so, and the export report's sizes and test top-1 are what the models really give.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportForDownload } from '../../../src/core/exchange/export-report.ts';
import { exportModel, zipExport, type ExportedFiles } from '../../../src/core/exchange/export.ts';
import { evaluate, topK } from '../../../src/core/inference/metrics.ts';
import { loadBackbone, preprocess } from '../../../src/core/training/mobilenet.ts';
import { checkModelFiles, loadChecked, type ModelFile } from '../../../src/core/exchange/model-import.ts';
import type { WeightPrecision } from '../../../src/core/exchange/quantize.ts';
import { Random } from '../../../src/core/training/random.ts';
import type { RunRecord } from '../../../src/core/training/run-protocol.ts';
import { newRun } from '../../../src/core/training/run-session.ts';
import { parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';
import { Trainer, type LabeledBitmaps } from '../../../src/core/training/training.ts';
import { withTempDir } from '../fixtures.ts';
import { folderHandler } from '../model-fixtures.ts';

let trainer: Trainer;
let run: RunRecord;
let input: tf.Tensor;
let expected: Float32Array;
/** The float32 model's probabilities for `input`'s drawings in another order: each of another class at its place. */
let otherExpected: Float32Array;
const exports = new Map<WeightPrecision, ExportedFiles>();

/** How far a quantized export's probabilities may be from float32's: on average, and in the share of equal top-1s. */
const FLOAT16_BOUND = { meanGap: 1e-2, sameTop1: 1 };
const UINT8_BOUND = { meanGap: 0.1, sameTop1: 0.95 };

/** The mean absolute difference between two sets of probabilities. */
const meanGap = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a, (v, i) => Math.abs(v - b[i]!)).reduce((sum, d) => sum + d, 0) / a.length;

/** The share of drawings two sets of probabilities (3 classes a drawing) give the same most probable class. */
function sameTop1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const top1 = (p: ArrayLike<number>, r: number) => topK(Array.from({ length: 3 }, (_, c) => p[r * 3 + c]!), 1)[0];
  let same = 0;
  for (let r = 0; r < a.length / 3; r++) if (top1(a, r) === top1(b, r)) same++;
  return same / (a.length / 3);
}

/** `perClass` bitmaps of each class: a bar at a class-specific place. */
function bars(perClass: number, seed = 5): LabeledBitmaps {
  const random = new Random(seed);
  const bitmaps = new Uint8Array(perClass * 3 * 784);
  const labels = new Int32Array(perClass * 3);
  for (let n = 0; n < labels.length; n++) {
    labels[n] = n % 3;
    for (let y = 4; y < 24; y++) for (let x = 0; x < 3; x++) bitmaps[n * 784 + y * 28 + 4 + labels[n]! * 8 + x] = 150 + Math.floor(random.next() * 100);
  }
  return { bitmaps, labels };
}

const filesOf = (f: ExportedFiles): ModelFile[] => [
  { name: 'model.json', bytes: new TextEncoder().encode(f['model.json']).buffer },
  { name: 'weights.bin', bytes: f['weights.bin'] },
  { name: 'metadata.json', bytes: new TextEncoder().encode(f['metadata.json']).buffer },
];

beforeAll(async () => {
  await tf.setBackend('cpu');
  const config = parseConfig({ ...PRESETS['tiny'], inputSizePx: 32, epochs: 6, learningRate: 0.01 });
  const none = { bitmaps: new Uint8Array(0), labels: new Int32Array(0) };
  trainer = new Trainer(config, await loadBackbone(folderHandler(), 32), { classNames: config.dataset.categories, imageSizePx: 28, train: bars(30, 6), validation: none, test: bars(20) });
  // Trained to tell the bars apart, so that its probabilities depend on the drawing: an untrained head gives nearly
  // the same ones for any input, and "predicts like float32" would then hold for the wrong input too.
  await trainer.cacheFeatures(() => {});
  await trainer.train({ onProgress: () => {}, saveCheckpoint: async () => {}, betweenBatches: async () => 'go', checkpointEverySec: 1e9 });
  run = newRun(config);
  for (const precision of ['float32', 'float16', 'uint8'] as const) exports.set(precision, await exportModel(trainer.model, run, precision));
  // The 60 test drawings, and the same drawings moved one place on, each where another class was, for the control.
  const test = bars(20).bitmaps;
  input = preprocess(test, 28, 32);
  const floatModel = await tf.loadLayersModel(tf.io.fromMemory(checkModelFiles(filesOf(exports.get('float32')!)).artifacts));
  expected = (await (floatModel.predict(input) as tf.Tensor).data()) as Float32Array;
  const other = preprocess(new Uint8Array([...test.subarray(784), ...test.subarray(0, 784)]), 28, 32);
  otherExpected = (await (floatModel.predict(other) as tf.Tensor).data()) as Float32Array;
  other.dispose();
  floatModel.dispose();
}, 60_000);

afterAll(() => {
  trainer.dispose();
  input.dispose();
});

describe('quantized export', () => {
  it('weights.bin is exactly 1/2 of float32 at float16 and just over 1/4 at uint8, and metadata says which', () => {
    const size = (p: WeightPrecision) => exports.get(p)!['weights.bin'].byteLength;
    expect(size('float32')).toBeGreaterThan(500_000);
    expect(size('float16') * 2).toBe(size('float32'));
    // uint8 quarters the large kernels and halves the small tensors (quantize.ts says why).
    expect(size('uint8') / size('float32')).toBeGreaterThan(0.25);
    expect(size('uint8') / size('float32')).toBeLessThan(0.3);
    expect(JSON.parse(exports.get('uint8')!['metadata.json'])).toMatchObject({ weightPrecision: 'uint8', labels: ['cat', 'airplane', 'rainbow'] });
    const specs = (JSON.parse(exports.get('uint8')!['model.json']) as tf.io.ModelJSON).weightsManifest[0]!.weights;
    expect(specs.every((s) => s.dtype === 'float32' && (s.quantization?.dtype === 'float16' || (s.quantization?.dtype === 'uint8' && typeof s.quantization.scale === 'number')))).toBe(true);
    expect(specs.filter((s) => s.quantization?.dtype === 'uint8').length).toBeGreaterThanOrEqual(5);
  });

  // Measured on this trained model: float16 2.8e-3 from float32 on average, uint8 4.6e-2 (one scale a tensor moves
  // the probabilities of drawings near a boundary by up to 0.3), both with float32's top-1 on all 60 drawings; the
  // drawings in another order 0.56.
  for (const [precision, bound] of [['float16', FLOAT16_BOUND], ['uint8', UINT8_BOUND]] as const) {
    it(`${precision}: plain tf.loadLayersModel loads it from files on disk and predicts like float32`, async () => {
      await withTempDir(async (dir) => {
        const files = exports.get(precision)!;
        await mkdir(path.join(dir, 'model'));
        await writeFile(path.join(dir, 'model', 'model.json'), files['model.json']);
        await writeFile(path.join(dir, 'model', 'weights.bin'), new Uint8Array(files['weights.bin']));
        const model = await tf.loadLayersModel(folderHandler(path.join(dir, 'model')));
        const actual = await (model.predict(input) as tf.Tensor).data();
        model.dispose();
        const gap = meanGap(actual, expected), agreement = sameTop1(actual, expected);
        console.log(`${precision}: probabilities ${gap.toExponential(2)} from float32's on average, the same top-1 for ${(agreement * 100).toFixed(1)} % of drawings; float32's for other drawings ${meanGap(otherExpected, expected).toExponential(2)} from them`);
        expect(gap).toBeLessThan(bound.meanGap);
        expect(gap).toBeGreaterThan(0); // the weights really were quantized
        expect(agreement).toBeGreaterThanOrEqual(bound.sameTop1);
        // The bound means something: other drawings move float32's own probabilities by far more.
        expect(meanGap(otherExpected, expected)).toBeGreaterThan(3 * bound.meanGap);
      });
    });
  }
});

describe('zipped export', () => {
  it('a .zip passes the same import checks as the loose files and predicts the same', async () => {
    const zip: ModelFile = { name: 'doodle-lab-tiny-uint8.zip', bytes: zipExport(exports.get('uint8')!) };
    expect(zip.bytes.byteLength).toBeLessThan(exports.get('uint8')!['weights.bin'].byteLength);
    const fromZip = checkModelFiles([zip]);
    const loose = checkModelFiles(filesOf(exports.get('uint8')!));
    expect(fromZip.info).toEqual(loose.info);
    expect(new Uint8Array(fromZip.artifacts.weightData)).toEqual(new Uint8Array(loose.artifacts.weightData));
    const model = await loadChecked(fromZip);
    const actual = await (model.predict(input) as tf.Tensor).data();
    model.dispose();
    // The uint8 weights read from a .zip predict like float32 within the loose uint8 files' bounds.
    expect(meanGap(actual, expected)).toBeLessThan(UINT8_BOUND.meanGap);
    expect(sameTop1(actual, expected)).toBeGreaterThanOrEqual(UINT8_BOUND.sameTop1);
    // A zip with the files in a folder (as "Compress" makes it) and renamed without .zip is read too.
    const [model_, weights, metadata] = filesOf(exports.get('float32')!);
    const nested = zipSync({ 'my model/model.json': new Uint8Array(model_!.bytes), 'my model/weights.bin': new Uint8Array(weights!.bytes), 'my model/metadata.json': new Uint8Array(metadata!.bytes), '__MACOSX/my model/._model.json': new Uint8Array(3) });
    expect(checkModelFiles([{ name: 'export', bytes: nested.buffer }]).info.labels).toEqual(['cat', 'airplane', 'rainbow']);
  });

  it('a malformed or incomplete .zip gives a message saying what to do', () => {
    const zip = new Uint8Array(zipExport(exports.get('uint8')!));
    const fails = (bytes: Uint8Array, message: RegExp) => expect(() => checkModelFiles([{ name: 'model.zip', bytes: bytes.slice().buffer }])).toThrow(message);
    fails(zip.subarray(0, zip.length - 30), /model\.zip is not a readable \.zip archive .*download the export again/);
    fails(new TextEncoder().encode('PK but not a zip at all'), /model\.zip is not a readable \.zip archive/);
    fails(zipSync({}), /model\.zip holds no files/);
    const [model_, weights] = filesOf(exports.get('uint8')!);
    fails(zipSync({ 'model.json': new Uint8Array(model_!.bytes), 'weights.bin': new Uint8Array(weights!.bytes) }), /No metadata\.json among the files/);
    // Weights from a float32 export do not fit a uint8 model.json.
    fails(zipSync({ 'model.json': new Uint8Array(model_!.bytes), 'weights.bin': new Uint8Array(exports.get('float32')!['weights.bin']), 'metadata.json': new Uint8Array(filesOf(exports.get('uint8')!)[2]!.bytes) }), /hold \d+ bytes but model\.json describes \d+/);
  });
});

describe('export report', () => {
  it('reports sizes and the test top-1 of the float32 and quantized exports, as the models give it', async () => {
    const floatTop1 = (await trainer.evaluateSplit('test')).top1;
    const before = tf.memory().numTensors;
    const readTest = async () => ({ test: trainer.data.test, imageSizePx: 28, datasetHash: run.datasetHash });
    const { files, report } = await exportForDownload(trainer.model, run, { precision: 'uint8', zip: true }, readTest);
    expect(tf.memory().numTensors).toBe(before);
    expect(files.map((f) => f.name)).toEqual(['doodle-lab-tiny-uint8.zip']);
    expect(report).toMatchObject({ precision: 'uint8', float32WeightBytes: exports.get('float32')!['weights.bin'].byteLength, weightBytes: exports.get('uint8')!['weights.bin'].byteLength, downloadBytes: files[0]!.bytes.byteLength });
    expect(report.accuracy?.testCount).toBe(60);
    expect(report.accuracy?.float32Top1).toBeCloseTo(floatTop1, 10);
    // The quantized top-1 is that of the uint8 files as an importer loads them (not the float model twice).
    const imported = await loadChecked(checkModelFiles([{ name: 'm.zip', bytes: files[0]!.bytes }]));
    const scores = tf.tidy(() => imported.predict(preprocess(trainer.data.test.bitmaps, 28, 32)) as tf.Tensor);
    expect(report.accuracy?.top1).toBe(evaluate((await scores.data()) as Float32Array, trainer.data.test.labels, run.labels).top1);
    scores.dispose();
    imported.dispose();

    const loose = await exportForDownload(trainer.model, run, { precision: 'float16', zip: false }, async () => ({ ...(await readTest()), datasetHash: 'changed' }));
    expect(loose.files.map((f) => f.name)).toEqual(['model.json', 'weights.bin', 'metadata.json']);
    expect(loose.report.accuracy).toBeNull();
    expect(loose.report.accuracyNote).toMatch(/stored drawings changed/);
  });
});
