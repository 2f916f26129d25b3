// The inference worker: owns the model being played with and classifies drawings as they are made, apart
// from the trainer so guessing stays quick while a run trains. Wires core (inference, render) to comlink.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import * as Comlink from 'comlink';
import { chooseBackend } from '../src/core/backend.ts';
import { classifyBitmap, loadRunModel, type Guess, type LoadedModel } from '../src/core/inference.ts';
import type { Strokes } from '../src/core/ndjson.ts';
import { strokesToBitmap } from '../src/core/render.ts';
import type { BackendChoice } from '../src/core/run-protocol.ts';
import { RunStore } from '../src/core/runs.ts';

let runs: Promise<RunStore> | null = null;
let loaded: { runId: string; model: LoadedModel } | null = null;
let backend: Promise<BackendChoice> | null = null;

export interface ClassifyResult {
  guesses: Guess[];
  /** Rendering plus prediction inside the worker. */
  workerMs: number;
}

const api = {
  /** Loads a finished (or checkpointed) run's model; returns its labels and the backend used. */
  async useRun(runId: string, siteUrl: string): Promise<{ labels: string[]; backend: BackendChoice }> {
    // One small image at a time: the CPU backend avoids a GPU round trip per guess, and is always there.
    const chosen = await (backend ??= chooseBackend('cpu'));
    if (loaded?.runId !== runId) {
      const store = await (runs ??= RunStore.open());
      const [run, checkpoint] = await Promise.all([store.getRun(runId), store.getCheckpoint(runId)]);
      if (run === undefined || checkpoint === undefined) throw new Error('This run has no saved weights to play with yet.');
      const model = await loadRunModel(run, checkpoint, tf.io.http(new URL(run.config.model.url, siteUrl).href));
      loaded?.model.dispose();
      loaded = { runId, model };
      // The first prediction compiles kernels; pay for it now, not on the first stroke.
      await classifyBitmap(model, new Uint8Array(784));
    }
    return { labels: loaded.model.labels, backend: chosen };
  },

  async classify(strokes: Strokes): Promise<ClassifyResult> {
    if (loaded === null) throw new Error('Choose a model first.');
    const started = performance.now();
    const guesses = await classifyBitmap(loaded.model, strokesToBitmap(strokes));
    return { guesses, workerMs: performance.now() - started };
  },
};

export type InferWorkerApi = typeof api;

Comlink.expose(api);
