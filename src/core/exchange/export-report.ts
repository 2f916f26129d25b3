// What an export downloads (three loose files or one .zip) and what quantizing cost: weight bytes at float32
// and at the chosen precision, and test top-1 of both exported models, each loaded back from its own files
// exactly as an importer would. Runs in the trainer worker; every model it builds is disposed here.
import * as tf from '@tensorflow/tfjs';
import { exportModel, zipExport, type ExportedFiles } from './export.ts';
import { messageOf } from '../errors.ts';
import { evaluate } from '../inference/metrics.ts';
import type { TestTimeAugmentation } from '../training/augment.ts';
import { predictProbabilities } from '../training/mobilenet.ts';
import type { WeightPrecision } from './quantize.ts';
import type { RunRecord } from '../training/run-protocol.ts';
import type { LabeledBitmaps } from '../training/training.ts';
import { INFERENCE_BATCH, type RunModel } from '../training/run-model.ts';

export interface ExportOptions {
  precision: WeightPrecision;
  /** One .zip instead of three files. */
  zip: boolean;
}

export interface ExportReport {
  precision: WeightPrecision;
  float32WeightBytes: number;
  weightBytes: number;
  /** Everything downloaded: the zip, or the three files. */
  downloadBytes: number;
  /** Top-1 on the run's held-out test split, float32 export vs the chosen one; null when not compared. */
  accuracy: { testCount: number; float32Top1: number; top1: number } | null;
  /** Why accuracy was not compared (float32 chosen, no test split, the drawings changed). */
  accuracyNote: string | null;
}

export interface DownloadFile {
  name: string;
  bytes: ArrayBuffer;
}

export interface ExportDownload {
  files: DownloadFile[];
  report: ExportReport;
}

/** The run's test split as read now, with the fingerprint of the drawings it came from. */
export type ReadTestSplit = () => Promise<{ test: LabeledBitmaps; imageSizePx: number; datasetHash: string }>;

export async function exportForDownload(trained: RunModel, run: RunRecord, options: ExportOptions, readTest: ReadTestSplit): Promise<ExportDownload> {
  const chosen = await exportModel(trained, run, options.precision);
  const float32 = options.precision === 'float32' ? chosen : await exportModel(trained, run, 'float32');
  const files: DownloadFile[] = options.zip
    ? [{ name: `${fileStem(run.config.name)}-${options.precision}.zip`, bytes: zipExport(chosen) }]
    : [
      { name: 'model.json', bytes: new TextEncoder().encode(chosen['model.json']).buffer },
      { name: 'weights.bin', bytes: chosen['weights.bin'] },
      { name: 'metadata.json', bytes: new TextEncoder().encode(chosen['metadata.json']).buffer },
    ];
  const report: ExportReport = {
    precision: options.precision, float32WeightBytes: float32['weights.bin'].byteLength, weightBytes: chosen['weights.bin'].byteLength,
    downloadBytes: files.reduce((sum, f) => sum + f.bytes.byteLength, 0), accuracy: null, accuracyNote: null,
  };
  if (options.precision === 'float32') {
    report.accuracyNote = 'float32 keeps the trained weights exactly.';
    return { files, report };
  }
  let split: Awaited<ReturnType<ReadTestSplit>>;
  try {
    split = await readTest();
  } catch (error) {
    report.accuracyNote = `Accuracy not compared: the test drawings could not be read (${messageOf(error)}).`;
    return { files, report };
  }
  if (split.datasetHash !== run.datasetHash) {
    report.accuracyNote = 'Accuracy not compared: the stored drawings changed since this run trained, so its test split is gone.';
  } else if (split.test.labels.length === 0) {
    report.accuracyNote = 'Accuracy not compared: this run has no held-out test split.';
  } else {
    const tta = run.config.testTimeAugmentation;
    const [float32Top1, top1] = [await top1OfExport(float32, split.test, split.imageSizePx, run.labels, tta), await top1OfExport(chosen, split.test, split.imageSizePx, run.labels, tta)];
    report.accuracy = { testCount: split.test.labels.length, float32Top1, top1 };
  }
  return { files, report };
}

/**
 * Loads exported files with plain tf.loadLayersModel (dequantizing as any importer would) and scores `test`, with the
 * run's test-time augmentation, as its own test top-1 was scored.
 */
export async function top1OfExport(files: ExportedFiles, test: LabeledBitmaps, imageSizePx: number, labels: readonly string[], testTimeAugmentation?: TestTimeAugmentation): Promise<number> {
  const json = JSON.parse(files['model.json']) as tf.io.ModelJSON;
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: files['weights.bin'],
  }));
  try {
    const inputSizePx = model.inputs[0]!.shape[1] as number; // exports are built at a fixed square input size
    const probabilities = await predictProbabilities(model, test.bitmaps, { imageSizePx, inputSizePx, batch: INFERENCE_BATCH }, testTimeAugmentation);
    return evaluate(probabilities, test.labels, labels).top1;
  } finally {
    model.dispose();
  }
}

function fileStem(name: string): string {
  return `doodle-lab-${name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'model'}`;
}
