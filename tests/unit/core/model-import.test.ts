// Importing model files: a real Teachable Machine export (../shared), our own export round trip with the same
// predictions, and a clear error for each malformed or mismatched set of files.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportModel } from '../../../src/core/exchange/export.ts';
import { checkModelFiles, importedRun, loadChecked, ModelImportError, type ModelFile } from '../../../src/core/exchange/model-import.ts';
import { newRun } from '../../../src/core/training/run-session.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../../src/core/training/train-config.ts';
import { RunModel } from '../../../src/core/training/run-model.ts';
import { folderHandler } from '../model-fixtures.ts';

const TM_DIR = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'shared', 'models', 'teachable-machine-mobilenet_v2_0.35_224');
const file = (name: string, text: string): ModelFile => ({ name, bytes: new TextEncoder().encode(text).buffer as ArrayBuffer });
const bytesOf = async (p: string): Promise<ArrayBuffer> => new Uint8Array(await readFile(p)).buffer;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function ownExport(mode: Partial<TrainConfig> = {}): Promise<{ files: ModelFile[]; expected: Float32Array; input: tf.Tensor; twoStage: Float32Array }> {
  const config = parseConfig({ ...PRESETS['tiny'], inputSizePx: 32, ...mode });
  const model = await RunModel.load(config, folderHandler(), config.dataset.categories.length);
  const run = newRun(config);
  const exported = await exportModel(model, run);
  const input = tf.randomUniform([4, 32, 32, 3], -1, 1, 'float32', 3);
  const out = model.inference.predict(input) as tf.Tensor;
  const expected = (await out.data()) as Float32Array;
  // The same input through the two models training uses: frozen part (if any), then the trainable part.
  const staged = tf.tidy(() => {
    const features = model.split.frozen === null ? input : model.split.frozen.predict(input) as tf.Tensor;
    return model.split.trainable.predict(features) as tf.Tensor;
  });
  const twoStage = (await staged.data()) as Float32Array;
  staged.dispose();
  out.dispose();
  model.dispose();
  return {
    files: [file('model.json', exported['model.json']), { name: 'weights.bin', bytes: exported['weights.bin'] }, file('metadata.json', exported['metadata.json'])],
    expected, input, twoStage,
  };
}

describe('model import', () => {
  it('loads our own export with its labels and gives the same predictions', async () => {
    const { files, expected, input } = await ownExport();
    const checked = checkModelFiles(files);
    expect(checked.info).toMatchObject({ kind: 'doodle-lab', labels: ['cat', 'airplane', 'rainbow'], imageSize: 32, inkOnWhite: false });
    const model = await loadChecked(checked);
    const actual = await (model.predict(input) as tf.Tensor).data();
    Array.from(actual).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    model.dispose();
    input.dispose();
  });

  it('says where a model trained outside the browser was trained, and the top-1 it reported', async () => {
    const { files, input } = await ownExport();
    input.dispose();
    expect(checkModelFiles(files).info).not.toHaveProperty('trainedWith');
    const metadata = JSON.parse(new TextDecoder().decode(files[2]!.bytes)) as Record<string, unknown>;
    const cluster = { ...metadata, metrics: { top1: 0.915, top3: 0.98, epochs: [] }, trainedWith: { engine: 'pytorch', torch: '2.3.0', processes: 8, device: 'NVIDIA H200', host: 'node-17' } };
    const info = checkModelFiles([files[0]!, files[1]!, file('metadata.json', JSON.stringify(cluster))]).info;
    expect(info).toMatchObject({ kind: 'doodle-lab', trainedWith: 'PyTorch 2.3.0, 8 processes on NVIDIA H200 (node-17)', reportedTop1: 0.915 });
  });

  it('makes a model trained elsewhere a finished run with its config and epochs; others stay models only', async () => {
    const { files, input } = await ownExport();
    input.dispose();
    const withMetadata = (metadata: object) => checkModelFiles([files[0]!, files[1]!, file('metadata.json', JSON.stringify(metadata))]).info;
    const metadata = JSON.parse(new TextDecoder().decode(files[2]!.bytes)) as Record<string, unknown>;
    const epoch = { epoch: 1, loss: 0.9, accuracy: 0.6, valLoss: 0.8, valAccuracy: 0.65, samplesPerSec: 5000, seconds: 2.5 };
    const cluster = {
      ...metadata, datasetHash: 'abc123', trainedWith: { engine: 'pytorch', torch: '1.13', processes: 2, device: 'CPU (x86_64)', host: 'vm' },
      metrics: { top1: 0.9, top3: 0.99, epochs: [epoch, { ...epoch, epoch: 2, seconds: 1.5, valLoss: null }, { epoch: 3, loss: 'bad' }] },
    };
    const info = withMetadata(cluster);
    const run = importedRun('run-1', 'model-1', { ...info, name: 'tiny (2)' }, 1000);
    expect(run).toMatchObject({
      runId: 'run-1', status: 'done', datasetHash: 'abc123', labels: ['cat', 'airplane', 'rainbow'], test: null, backend: null,
      config: { ...parseConfig(metadata['config']), name: 'tiny (2)' }, timings: { trainSec: 4 },
      imported: { modelId: 'model-1', trainedWith: 'PyTorch 1.13, 2 processes on CPU (x86_64) (vm)', reportedTop1: 0.9, reportedTop3: 0.99 },
    });
    // The malformed epoch is left out; a missing validation loss stays null.
    expect(run!.epochs).toEqual([epoch, { ...epoch, epoch: 2, seconds: 1.5, valLoss: null }]);
    // Our own export (no trainedWith), and a cluster model whose config does not parse, import as models only.
    expect(importedRun('run-2', 'model-2', checkModelFiles(files).info, 1000)).toBeNull();
    expect(importedRun('run-3', 'model-3', withMetadata({ ...cluster, config: { ...metadata['config'] as object, epochs: 0 } }), 1000)).toBeNull();
  });

  it.each([
    ['head only', { mode: 'head' }],
    ['the last 2 blocks', { mode: 'last-blocks', trainableBlocks: 2 }],
    ['the whole network', { mode: 'whole' }],
  ] as const)('exports a run that trains %s as one model that predicts what the two stages of training do', async (_, mode) => {
    const { files, expected, input, twoStage } = await ownExport(mode);
    Array.from(expected).forEach((v, i) => expect(v).toBeCloseTo(twoStage[i]!, 5));
    const model = await loadChecked(checkModelFiles(files));
    const actual = await (model.predict(input) as tf.Tensor).data();
    Array.from(actual).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    model.dispose();
    input.dispose();
  });

  it.skipIf(!existsSync(TM_DIR))('loads a real Teachable Machine export (needs ../shared)', async () => {
    const files = await Promise.all(['model.json', 'weights.bin', 'metadata.json'].map(async (name) => ({ name, bytes: await bytesOf(path.join(TM_DIR, name)) })));
    const checked = checkModelFiles(files);
    expect(checked.info).toMatchObject({ kind: 'teachable-machine', imageSize: 224, inkOnWhite: true });
    expect(checked.info.labels).toHaveLength(10);
    const model = await loadChecked(checked);
    const scores = tf.tidy(() => (model.predict(tf.zeros([1, 224, 224, 3])) as tf.Tensor).sum().dataSync()[0]);
    expect(scores).toBeCloseTo(1, 4);
    model.dispose();
  });

  it('explains each malformed or mismatched set of files', async () => {
    const { files, input } = await ownExport();
    input.dispose();
    const [model, weights, metadata] = files as [ModelFile, ModelFile, ModelFile];
    const fails = (set: ModelFile[], message: RegExp) => expect(() => checkModelFiles(set)).toThrow(message);
    fails([weights, metadata], /No model\.json/);
    fails([model, weights], /No metadata\.json/);
    fails([file('model.json', '{ nope'), weights, metadata], /model\.json is not valid JSON/);
    fails([file('model.json', '{"format":"graph-model"}'), weights, metadata], /not a tfjs LayersModel/);
    fails([model, metadata], /lists the weight file weights\.bin, which is not among the files/);
    fails([model, { name: 'weights.bin', bytes: weights.bytes.slice(0, 100) }, metadata], /hold 100 bytes but model\.json describes \d+/);
    fails([model, weights, file('metadata.json', '{"labels":["only one"]}')], /no "labels" list/);
    const fourLabels = file('metadata.json', JSON.stringify({ ...JSON.parse(new TextDecoder().decode(metadata.bytes)), labels: ['a', 'b', 'c', 'd'] }));
    await expect(loadChecked(checkModelFiles([model, weights, fourLabels]))).rejects.toThrow(/gives 3 scores but metadata\.json has 4 labels/);
    expect(() => checkModelFiles([weights])).toThrow(ModelImportError);
  });
});
