// Turns a trained run into files others can load: model.json + weights.bin (a plain tfjs LayersModel, from
// image to class probabilities) and metadata.json with labels, input size and preprocessing, laid out like a
// Teachable Machine image export; weights optionally quantized (quantize.ts) and the three files optionally
// zipped into one. Runs in the trainer worker.
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { quantizeWeights, type WeightPrecision } from './quantize.ts';
import type { RunRecord } from '../training/run-protocol.ts';
import type { RunModel } from '../training/run-model.ts';

export interface ExportedFiles {
  'model.json': string;
  'weights.bin': ArrayBuffer;
  'metadata.json': string;
}

export interface ExportMetadata {
  packageName: 'doodle-lab';
  packageVersion: string;
  tfjsVersion: string;
  timeStamp: string;
  modelName: string;
  labels: string[];
  imageSize: number;
  preprocessing: { source: string; resize: string; channels: number; scale: string };
  datasetHash: string;
  config: RunRecord['config'];
  /** How weights.bin stores the weights; tf.loadLayersModel turns float16 and uint8 back into float32. */
  weightPrecision: WeightPrecision;
  metrics: { top1: number | null; top3: number | null; epochs: RunRecord['epochs'] };
}

export const PREPROCESSING: ExportMetadata['preprocessing'] = {
  source: '28×28 uint8 bitmap, white strokes (255) on black (0), rendered as Quick, Draw! numpy_bitmap',
  resize: 'bilinear with aligned corners to imageSize × imageSize',
  channels: 3,
  scale: 'value / 127.5 - 1',
};

export async function exportModel(trained: RunModel, run: RunRecord, precision: WeightPrecision = 'float32'): Promise<ExportedFiles> {
  const model = trained.inference;
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const saved = artifacts as tf.io.ModelArtifacts | null; // assigned inside the save handler above
  if (saved === null || saved.weightData === undefined) throw new Error('The model could not be serialised.');
  const { weightSpecs, weightData } = quantizeWeights(saved.weightSpecs ?? [], tf.io.CompositeArrayBuffer.join(saved.weightData), precision);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: saved.modelTopology as object, format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`, convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }],
  };
  const metadata: ExportMetadata = {
    packageName: 'doodle-lab', packageVersion: '0.1.0', tfjsVersion: tf.version.tfjs, timeStamp: new Date().toISOString(),
    modelName: run.config.name, labels: run.labels, imageSize: run.config.inputSizePx, preprocessing: PREPROCESSING,
    datasetHash: run.datasetHash, config: run.config, weightPrecision: precision,
    metrics: { top1: run.test?.top1 ?? null, top3: run.test?.top3 ?? null, epochs: run.epochs },
  };
  return { 'model.json': JSON.stringify(modelJson), 'weights.bin': weightData, 'metadata.json': JSON.stringify(metadata, null, 2) };
}

/** The three files as one .zip at its root, deflated (the JSON shrinks a lot, quantized weights a little). */
export function zipExport(files: ExportedFiles): ArrayBuffer {
  const encode = (text: string) => new TextEncoder().encode(text);
  return zipSync({
    'model.json': encode(files['model.json']), 'weights.bin': new Uint8Array(files['weights.bin']), 'metadata.json': encode(files['metadata.json']),
  }, { level: 6 }).buffer;
}
