// Checks model files a person hands us (a Doodle Lab export or a Teachable Machine image-model export:
// model.json + weight files + metadata.json, loose or in one .zip) and turns them into tfjs artifacts plus
// what the app needs to use them (labels, input size, how to feed a drawing). Every problem is a
// ModelImportError that says what to fix. Runs in the inference worker and in Node tests.
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import type { TestTimeAugmentation } from '../training/augment.ts';
import { concatBytes } from '../data/bytes.ts';
import { messageOf } from '../errors.ts';
import type { EpochMetrics, RunRecord } from '../training/run-protocol.ts';
import { parseConfig, type TrainConfig } from '../training/train-config.ts';

export class ModelImportError extends Error {
  override name = 'ModelImportError';
}

export interface ModelFile {
  name: string;
  bytes: ArrayBuffer;
}

export interface ImportedModelInfo {
  name: string;
  kind: 'doodle-lab' | 'teachable-machine';
  labels: string[];
  imageSize: number;
  /** Doodle Lab models read white strokes on black; Teachable Machine image models read photos, so dark ink on white. */
  inkOnWhite: boolean;
  /** 'flip' where the model was trained and scored to guess from a drawing and its mirror image (its config says so). */
  testTimeAugmentation?: TestTimeAugmentation;
  /** Where a model trained outside the browser was trained (metadata.json `trainedWith`, written by scale/train.py). */
  trainedWith?: string;
  /** Test top-1 the trainer reported in metadata.json, for a Doodle Lab model that has one. */
  reportedTop1?: number;
  /** For a Doodle Lab model trained outside the tab (`trainedWith`): what it was trained with and how it went, so it
   * becomes a row of the Runs table (`importedRun`). */
  trained?: { config: TrainConfig; epochs: EpochMetrics[]; datasetHash: string; reportedTop3: number | null };
}

export interface CheckedModel {
  info: ImportedModelInfo;
  artifacts: { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer };
}

/** An imported model as kept in IndexedDB: a new record per import, so nothing stored is overwritten. */
export interface StoredModel extends CheckedModel {
  modelId: string;
  importedAt: number;
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };

/** Checks the files without building the model; `loadChecked` then builds it and checks its shapes. */
export function checkModelFiles(given: ModelFile[]): CheckedModel {
  const files = given.flatMap((f) => (isZip(f) ? unzipModelFiles(f) : [f]));
  const byName = new Map(files.map((f) => [f.name.split(/[\\/]/).pop() ?? f.name, f.bytes]));
  const modelBytes = byName.get('model.json');
  if (modelBytes === undefined) throw new ModelImportError('No model.json among the files: choose model.json, its weight file(s) and metadata.json together.');
  const json = parseJson(modelBytes, 'model.json') as Partial<tf.io.ModelJSON>;
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(json.weightsManifest)) {
    throw new ModelImportError('model.json is not a tfjs LayersModel (it needs modelTopology and weightsManifest).');
  }
  const metadataBytes = byName.get('metadata.json');
  if (metadataBytes === undefined) throw new ModelImportError('No metadata.json among the files: it holds the class labels, so the model cannot be used without it.');
  const metadata = parseJson(metadataBytes, 'metadata.json') as {
    labels?: unknown; imageSize?: unknown; modelName?: unknown; packageName?: unknown; trainedWith?: unknown; config?: unknown; datasetHash?: unknown;
    metrics?: { top1?: unknown; top3?: unknown; epochs?: unknown };
  };
  if (!Array.isArray(metadata.labels) || metadata.labels.length < 2 || !metadata.labels.every((l) => typeof l === 'string')) {
    throw new ModelImportError('metadata.json has no "labels" list of at least two class names.');
  }
  const kind = metadata.packageName === 'doodle-lab' ? 'doodle-lab' : 'teachable-machine';
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const bytes = byName.get(p.split('/').pop() ?? p);
      if (bytes === undefined) throw new ModelImportError(`model.json lists the weight file ${p}, which is not among the files.`);
      parts.push(new Uint8Array(bytes));
    }
  }
  const expected = weightSpecs.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * (BYTES_PER[w.quantization?.dtype ?? w.dtype] ?? 4), 0);
  const actual = parts.reduce((sum, p) => sum + p.length, 0);
  if (expected !== actual) throw new ModelImportError(`The weight files hold ${actual} bytes but model.json describes ${expected}: they are not from the same export.`);
  const weightData = concatBytes(parts);
  const imageSize = typeof metadata.imageSize === 'number' && Number.isInteger(metadata.imageSize) ? metadata.imageSize : 224;
  const trainedWith = describeTrainedWith(metadata.trainedWith);
  const top1 = metadata.metrics?.top1;
  const trained = kind === 'doodle-lab' && trainedWith !== null ? trainedRecord(metadata) : null;
  return {
    info: {
      name: typeof metadata.modelName === 'string' ? metadata.modelName : 'Imported model', kind, labels: metadata.labels as string[], imageSize, inkOnWhite: kind === 'teachable-machine',
      ...(trainedWith === null ? {} : { trainedWith }), ...(typeof top1 === 'number' && kind === 'doodle-lab' ? { reportedTop1: top1 } : {}),
      ...(trained === null ? {} : { trained }),
      ...(kind === 'doodle-lab' && (metadata.config as { testTimeAugmentation?: unknown } | undefined)?.testTimeAugmentation === 'flip' ? { testTimeAugmentation: 'flip' as const } : {}),
    },
    artifacts: { modelTopology: json.modelTopology, weightSpecs, weightData: weightData.buffer },
  };
}

/** The config, epochs and dataset hash scale/train.py writes into metadata.json; null when the config does not parse
 * (the model still imports and plays, it just gets no row in the Runs table). */
function trainedRecord(metadata: { config?: unknown; datasetHash?: unknown; metrics?: { top3?: unknown; epochs?: unknown } }): NonNullable<ImportedModelInfo['trained']> | null {
  let config: TrainConfig;
  try {
    config = parseConfig(metadata.config);
  } catch {
    return null;
  }
  const number = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const epochs = (Array.isArray(metadata.metrics?.epochs) ? metadata.metrics.epochs : []).flatMap((e: Record<string, unknown>, i): EpochMetrics[] => {
    const [loss, accuracy] = [number(e['loss']), number(e['accuracy'])];
    if (loss === null || accuracy === null) return [];
    return [{ epoch: number(e['epoch']) ?? i + 1, loss, accuracy, valLoss: number(e['valLoss']), valAccuracy: number(e['valAccuracy']), samplesPerSec: number(e['samplesPerSec']) ?? 0, seconds: number(e['seconds']) ?? 0 }];
  });
  return { config, epochs, datasetHash: typeof metadata.datasetHash === 'string' ? metadata.datasetHash : '', reportedTop3: number(metadata.metrics?.top3) };
}

/**
 * The Runs table's row for an imported model trained elsewhere: its config and epochs as its trainer reported them,
 * 'done', no checkpoint (its weights are the stored model `modelId`) and no test evaluation until "Evaluate again"
 * scores it on the drawings stored here. Null for a model without that record (Teachable Machine, an app export).
 */
export function importedRun(runId: string, modelId: string, info: ImportedModelInfo, now: number): RunRecord | null {
  if (info.trained === undefined || info.trainedWith === undefined) return null;
  const { config, epochs, datasetHash, reportedTop3 } = info.trained;
  const trainSec = epochs.reduce((sum, e) => sum + e.seconds, 0);
  return {
    runId, config: { ...config, name: info.name }, status: 'done', createdAt: now, updatedAt: now, datasetHash, labels: [...info.labels],
    counts: { train: 0, validation: 0, test: 0 }, backend: null, epochs, timings: { loadSec: 0, cacheSec: 0, trainSec, evaluateSec: 0 }, test: null, error: null,
    imported: { modelId, trainedWith: info.trainedWith, reportedTop1: info.reportedTop1 ?? null, reportedTop3 },
  };
}

/** "PyTorch 2.3.0, 8 processes on NVIDIA H200 (node-17)" from scale/train.py's `trainedWith`; null when absent or odd. */
function describeTrainedWith(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const { engine, torch, processes, device, host } = value as Record<string, unknown>;
  if (engine !== 'pytorch') return null;
  const count = typeof processes === 'number' ? `${processes} process${processes === 1 ? '' : 'es'}` : 'processes';
  return `PyTorch${typeof torch === 'string' ? ` ${torch}` : ''}, ${count}${typeof device === 'string' ? ` on ${device}` : ''}${typeof host === 'string' ? ` (${host})` : ''}`;
}

/** Builds the model and checks it takes square RGB images of imageSize and gives one score per label. */
export async function loadChecked(checked: CheckedModel): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(checked.artifacts));
  } catch (error) {
    throw new ModelImportError(`The model could not be built from these files (${messageOf(error)}).`);
  }
  const input = model.inputs[0]?.shape ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const { labels, imageSize } = checked.info;
  const problem = input.length !== 4 || input[3] !== 3 ? `it takes input ${JSON.stringify(input)}, not RGB images`
    : input[1] !== null && input[1] !== imageSize ? `it takes ${input[1]}×${input[2]} images but metadata.json says ${imageSize}`
      : output.at(-1) !== labels.length ? `it gives ${output.at(-1)} scores but metadata.json has ${labels.length} labels` : null;
  if (problem !== null) {
    model.dispose();
    throw new ModelImportError(`This model does not match its metadata: ${problem}.`);
  }
  return model;
}

/** Larger than any MobileNet export by far; keeps a hostile zip from filling the tab's memory. */
export const MAX_UNZIPPED_BYTES = 512 * 1024 * 1024;

function isZip(file: ModelFile): boolean {
  const head = new Uint8Array(file.bytes, 0, Math.min(2, file.bytes.byteLength));
  // "PK" starts every zip archive, whatever the file was renamed to.
  return file.name.toLowerCase().endsWith('.zip') || (head[0] === 0x50 && head[1] === 0x4b);
}

/** The files inside a zip; folders inside it are flattened to file names above, macOS extras skipped. */
function unzipModelFiles(zip: ModelFile): ModelFile[] {
  let total = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(zip.bytes), {
      filter: (info) => {
        total += info.originalSize;
        if (total > MAX_UNZIPPED_BYTES) throw new ModelImportError(`${zip.name} unpacks to more than ${MAX_UNZIPPED_BYTES / 1024 ** 2} MB; that is not a model export.`);
        return !info.name.endsWith('/') && !info.name.startsWith('__MACOSX/');
      },
    });
  } catch (error) {
    if (error instanceof ModelImportError) throw error;
    throw new ModelImportError(`${zip.name} is not a readable .zip archive (${messageOf(error)}): download the export again, or choose the loose model.json, weights.bin and metadata.json.`);
  }
  const files = Object.entries(entries).map(([name, bytes]) => ({ name, bytes: bytes.slice().buffer }));
  if (files.length === 0) throw new ModelImportError(`${zip.name} holds no files: it should hold model.json, its weight file(s) and metadata.json.`);
  return files;
}

function parseJson(bytes: ArrayBuffer, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ModelImportError(`${name} is not valid JSON.`);
  }
}
