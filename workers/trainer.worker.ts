// The trainer worker: owns every tensor, the running training run and its pause/cancel state, and wires the
// pure core (run-session, runs, export) to the page through comlink. Runs in a module Web Worker.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import './wasm-backend.ts';
import { cpuEngine } from './engine-module.ts';
import * as Comlink from 'comlink';
import './thread-errors.ts';
import { chooseBackend } from '../src/core/training/backend.ts';
import { clusterBundle, type ClusterBundle } from '../src/core/exchange/cluster-export.ts';
import { exportModel, type ExportedFiles } from '../src/core/exchange/export.ts';
import { exportForDownload, type ExportDownload, type ExportOptions } from '../src/core/exchange/export-report.ts';
import { loadStoredRun } from '../src/core/inference/inference.ts';
import { reevaluateRun } from '../src/core/inference/reevaluate.ts';
import type { EvaluateProgress, RunRecord, TrainProgress } from '../src/core/training/run-protocol.ts';
import { executeRun, newRun } from '../src/core/training/run-session.ts';
import { RunStore } from '../src/core/training/runs.ts';
import { DrawingStore } from '../src/core/data/store.ts';
import { plainMessage, storageProblem } from '../src/core/training/config-problems.ts';
import { ConfigError, parseConfig } from '../src/core/training/train-config.ts';
import { loadTrainingData } from '../src/core/training/training-data.ts';

interface Active {
  runId: string;
  stop: boolean;
  paused: boolean;
  /** Resolves the wait of a paused run. */
  wake: (() => void) | null;
}

let active: Active | null = null;
/** The run being evaluated again, if any: one model at a time in this worker. */
let evaluating: string | null = null;
let checkpointEverySec = 20;
// Their database opens on first use, and again after another tab or the browser closed it or an open failed.
const stores = { drawings: DrawingStore.connect(), runs: RunStore.connect() };

/**
 * Lets the messages queued for this worker (pause, cancel) run. On the WASM and CPU backends a training step
 * awaits only promises that are already resolved, so without a real task boundary between batches a Pause pressed
 * mid-epoch was seen only at the next IndexedDB write: the next checkpoint or epoch end, 16 s later on the
 * whole-network preset.
 */
const yieldToMessages = (): Promise<void> => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    resolve();
  };
  channel.port2.postMessage(null);
});

/**
 * Export and quantization run the model, so a backend must be initialised: after a reload nothing has chosen one
 * yet (tfjs then fails with "backend 'webgpu' has not yet been initialized"). While a run trains, its backend is
 * left as it is.
 */
async function ensureBackend(run: RunRecord): Promise<void> {
  if (active === null) await chooseBackend(run.config.backend);
}

const modelHandler = (siteUrl: string) => (url: string) => tf.io.http(new URL(url, siteUrl).href);


async function execute(run: RunRecord, siteUrl: string, onProgress: (p: TrainProgress) => void): Promise<RunRecord> {
  if (active !== null) throw new Error('A run is already training; pause or cancel it first.');
  if (evaluating !== null) throw new Error('A run is being evaluated; train when it is done.');
  const state: Active = { runId: run.runId, stop: false, paused: false, wake: null };
  active = state;
  // Comlink delivers each callback call as a message; a page that went away must not leave a rejection behind.
  const send = (p: TrainProgress) => void Promise.resolve(onProgress(p)).catch(() => undefined);
  try {
    const { drawings, runs } = stores;
    return await executeRun(run, {
      drawings, runs, modelHandler: modelHandler(siteUrl), onProgress: send, checkpointEverySec, cpuEngine,
      betweenBatches: async () => {
        await yieldToMessages();
        if (state.paused && !state.stop) {
          await runs.putRun({ ...run, status: 'paused' });
          send({ kind: 'paused' });
          await new Promise<void>((resolve) => { state.wake = resolve; });
          await runs.putRun({ ...run, status: 'running' });
          send({ kind: 'resumed' });
        }
        return state.stop ? 'stop' : 'go';
      },
    });
  } finally {
    active = null;
  }
}

async function exportedRun(runId: string, siteUrl: string): Promise<{ run: RunRecord; files: ExportedFiles }> {
  const { runs } = stores;
  const { run, model: loaded } = await loadStoredRun(runs, runId, modelHandler(siteUrl), ensureBackend);
  try {
    return { run, files: await exportModel(loaded.runModel, run) };
  } finally {
    loaded.dispose();
  }
}

const api = {
  /** Starts a new run from a config (validated here); resolves with the final record. */
  async train(config: unknown, siteUrl: string, onProgress: (p: TrainProgress) => void): Promise<RunRecord> {
    const parsed = parseConfig(config);
    // Classes with no stored drawings would fail the run after its record is saved, leaving a failed run with a
    // Resume button that cannot help: refuse such a config before any record exists.
    const problem = storageProblem(parsed, await stores.drawings.listDatasets());
    if (problem !== null) throw new ConfigError(plainMessage([problem]), [problem]);
    return execute(newRun(parsed), siteUrl, onProgress);
  },

  /** Continues a paused, interrupted or failed run from its last checkpoint. */
  async resumeRun(runId: string, siteUrl: string, onProgress: (p: TrainProgress) => void): Promise<RunRecord> {
    const run = await stores.runs.getRun(runId);
    if (run === undefined) throw new Error(`There is no run ${runId}.`);
    if (run.status === 'done') throw new Error('This run has finished; start a new one.');
    return execute(run, siteUrl, onProgress);
  },

  pause(): void {
    if (active !== null) active.paused = true;
  },

  resume(): void {
    if (active === null) return;
    active.paused = false;
    active.wake?.();
    active.wake = null;
  },

  cancel(): void {
    if (active === null) return;
    active.stop = true;
    active.wake?.();
  },

  /** Newest first; a run marked running or paused that this worker is not running was cut off by a reload. */
  async listRuns(): Promise<RunRecord[]> {
    const list = await stores.runs.listRuns();
    return list.map((run) => ((run.status === 'running' || run.status === 'paused') && run.runId !== active?.runId ? { ...run, status: 'interrupted' } : run));
  },

  async deleteRun(runId: string): Promise<void> {
    if (active?.runId === runId) throw new Error('Cancel this run before deleting it.');
    await stores.runs.deleteRun(runId);
  },

  /** The run's final (or latest) weights as tfjs files with labels. */
  async exportRun(runId: string, siteUrl: string): Promise<ExportedFiles> {
    const { files } = await exportedRun(runId, siteUrl);
    return Comlink.transfer(files, [files['weights.bin']]);
  },

  /** "Export for a cluster": the run's config, dataset selection and weights in one .zip for scale/train.py. */
  async exportForCluster(runId: string, siteUrl: string): Promise<ClusterBundle> {
    const { run, files } = await exportedRun(runId, siteUrl);
    const bundle = clusterBundle(run, files, await stores.drawings.getDataset(run.config.dataset.datasetId));
    return Comlink.transfer(bundle, [bundle.bytes]);
  },

  /** Evaluates a finished run again on its test split as stored now; resolves with the updated record. */
  async evaluateRun(runId: string, siteUrl: string, onProgress: (p: EvaluateProgress) => void): Promise<RunRecord> {
    if (active !== null) throw new Error('A run is training: evaluate again when it has finished.');
    if (evaluating !== null) throw new Error('Another run is being evaluated; wait for it to finish.');
    evaluating = runId;
    try {
      const { drawings, runs } = stores;
      const send = (p: EvaluateProgress) => void Promise.resolve(onProgress(p)).catch(() => undefined);
      return await reevaluateRun(runId, { drawings, runs, modelHandler: modelHandler(siteUrl), onProgress: send });
    } finally {
      evaluating = null;
    }
  },

  /** What the Export controls download (loose files or one .zip, at the chosen weight precision), with the
   * size and, for quantized weights, test top-1 against float32. */
  async exportDownload(runId: string, siteUrl: string, options: ExportOptions): Promise<ExportDownload> {
    const { runs, drawings } = stores;
    const { run, model: loaded } = await loadStoredRun(runs, runId, modelHandler(siteUrl), ensureBackend);
    try {
      const result = await exportForDownload(loaded.runModel, run, options, async () => {
        const { data, datasetHash } = await loadTrainingData(drawings, run.config);
        return { test: data.test, imageSizePx: data.imageSizePx, datasetHash };
      });
      return Comlink.transfer(result, result.files.map((f) => f.bytes));
    } finally {
      loaded.dispose();
    }
  },

  /** Tests and the pipeline shorten this to see mid-epoch checkpoints quickly. */
  setCheckpointInterval(seconds: number): void {
    checkpointEverySec = seconds;
  },

  activeRunId(): string | null {
    return active?.runId ?? null;
  },
};

export type TrainerWorkerApi = typeof api;

Comlink.expose(api);
