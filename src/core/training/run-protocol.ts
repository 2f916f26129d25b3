// Plain-data shapes that cross between the page, the trainer worker and IndexedDB: training progress events
// (a union tagged by `kind`), run records and checkpoints. Only copyable values and ArrayBuffers.
import type { EvaluationResult } from '../inference/metrics.ts';
import type { TrainConfig } from './train-config.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface BackendChoice {
  name: BackendName;
  /** Why this one: what was tried before it and why that failed, or that it was asked for. */
  reason: string;
  /** Set where the engine, not tfjs, runs the model (training steps, or guesses) on this backend. */
  engine?: boolean;
  /** Threads the engine's WebAssembly path trained on, when more than one. */
  threads?: number;
}

export interface EpochMetrics {
  /** Counted from 1, as people count epochs; batch events count the same way. */
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  samplesPerSec: number;
  seconds: number;
}

export type RunStatus = 'running' | 'paused' | 'interrupted' | 'done' | 'failed' | 'cancelled';

export interface RunTimings {
  loadSec: number;
  cacheSec: number;
  trainSec: number;
  evaluateSec: number;
}

export interface RunRecord {
  runId: string;
  config: TrainConfig;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  /** SHA-256 of the catalog of the drawings trained on (the dataset's shard checksums). */
  datasetHash: string;
  labels: string[];
  counts: { train: number; validation: number; test: number };
  backend: BackendChoice | null;
  epochs: EpochMetrics[];
  timings: RunTimings;
  test: EvaluationResult | null;
  error: string | null;
  /** Set when `test` comes from "Evaluate again": when, and on which drawings (compare with `datasetHash`). */
  evaluatedAgain?: { at: number; datasetHash: string };
  /** Set for a model trained elsewhere (scale/train.py under torchrun) and brought in with Import model: the stored
   * model that holds its weights (it has no checkpoint), where it was trained and what its trainer reported. */
  imported?: ImportedRun;
}

export interface ImportedRun {
  modelId: string;
  trainedWith: string;
  reportedTop1: number | null;
  reportedTop3: number | null;
}

export interface StoredTensor {
  name: string;
  shape: number[];
  data: ArrayBuffer;
}

/** A checkpoint's position (completed epochs, then completed batches of the next) as people count it: "epoch 3, batch 20". */
export function positionLabel(position: { epoch: number; batch: number }): string {
  return `epoch ${position.epoch + 1}, batch ${position.batch}`;
}

export interface CheckpointRecord {
  runId: string;
  /** Completed epochs and, within the next one, completed batches. */
  epoch: number;
  batch: number;
  /** State of the augmentation random stream at this point. */
  randomState: number;
  /** Sums of the epoch in progress, so its reported loss and accuracy cover every batch. */
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
  weights: StoredTensor[];
  optimizer: StoredTensor[];
  savedAt: number;
}

export type TrainProgress =
  | { kind: 'started'; runId: string; resumedFrom: { epoch: number; batch: number } | null }
  | { kind: 'backend'; backend: BackendChoice }
  | { kind: 'phase'; phase: 'loading' | 'caching' | 'training' | 'evaluating'; detail: string }
  /** Frozen features computed so far (head-only and last-blocks runs cache them once before training). */
  | { kind: 'caching'; done: number; total: number; etaSec: number | null }
  | { kind: 'batch'; /** The epoch in progress, counted from 1 (as EpochMetrics.epoch). */ epoch: number; /** The run's total. */ epochs: number; batch: number; batches: number; loss: number; accuracy: number; samplesPerSec: number; etaSec: number | null }
  | { kind: 'epoch'; metrics: EpochMetrics }
  | { kind: 'checkpoint'; epoch: number; batch: number }
  | { kind: 'paused' }
  | { kind: 'resumed' }
  | { kind: 'done'; run: RunRecord }
  | { kind: 'cancelled'; run: RunRecord }
  | { kind: 'error'; message: string };

/** Progress of evaluating a finished run again (src/core/inference/reevaluate.ts). */
export type EvaluateProgress = { kind: 'phase'; phase: 'loading' | 'evaluating'; detail: string };
