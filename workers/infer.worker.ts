// The inference worker: owns the model being played with and classifies drawings as they are made, apart
// from the trainer so guessing stays quick while a run trains, and classifies uploaded images (also by the
// stock ImageNet MobileNet, which it keeps once loaded). Wires core (inference, render, image-classify) to comlink.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import './wasm-backend.ts';
import { compileEngine } from './engine-module.ts';
import * as Comlink from 'comlink';
import './thread-errors.ts';
import type { MobileNet } from '@tensorflow-models/mobilenet';
import { chooseBackend, hardwareWebGpu } from '../src/core/training/backend.ts';
import { engineClassifier } from '../src/core/engine/classifier.ts';
import { classifyImageFile, loadImagenet, type ImageClassifyResult, type ImageModelChoice } from '../src/core/inference/image-classify.ts';
import { modelChoice, runChoice } from '../src/core/inference/choice.ts';
import { classifyBitmap, loadStoredRun, type Classifier, type Guess } from '../src/core/inference/inference.ts';
import { messageOf } from '../src/core/errors.ts';
import { checkModelFiles, importedRun, loadChecked, type ImportedModelInfo, type ModelFile } from '../src/core/exchange/model-import.ts';
import type { Strokes } from '../src/core/data/ndjson.ts';
import { distinctName } from '../src/core/training/names.ts';
import { newId } from '../src/core/training/random.ts';
import { strokesToBitmap } from '../src/core/data/render.ts';
import type { BackendChoice } from '../src/core/training/run-protocol.ts';
import { RunStore } from '../src/core/training/runs.ts';

/** The model in use, keyed by its choice (core/inference/choice.ts): a run or an imported model. */
let loaded: { key: string; model: Classifier; backend: BackendChoice } | null = null;
let backend: Promise<BackendChoice> | null = null;
/** Whether WebGPU runs on a real GPU here: then the engine guesses there (SwiftShader is slower than WASM for this). */
let gpuEngine: Promise<boolean> | null = null;
const ENGINE_BACKEND: BackendChoice = { name: 'webgpu', reason: 'WebGPU: the fused engine on this GPU', engine: true };
/** Elsewhere the engine's WebAssembly kernels guess (engine-module.ts). */
const ENGINE_CPU_BACKEND: BackendChoice = { name: 'wasm', reason: 'WebAssembly: the engine\'s SIMD kernels', engine: true };
/** The stock ImageNet classifier, loaded on the first upload that asks for it and kept. */
let imagenet: Promise<MobileNet> | null = null;

export interface ClassifyResult {
  guesses: Guess[];
  /** Rendering plus prediction inside the worker. */
  workerMs: number;
}

// One small image at a time: a CPU backend avoids a GPU round trip per guess. WASM (XNNPACK) runs MobileNet
// several times faster than the plain CPU backend, which chooseBackend falls back to without WebAssembly.
const cpuBackend = (): Promise<BackendChoice> => chooseBackend('wasm');

// Its database opens on first use, and again after another tab or the browser closed it or an open failed.
const runs = RunStore.connect();

async function use(key: string, load: () => Promise<Classifier>): Promise<{ labels: string[]; backend: BackendChoice }> {
  const chosen = await (backend ??= cpuBackend());
  if (loaded?.key !== key) {
    const model = await load();
    // On a real GPU the engine's WebGPU path guesses, else its WebAssembly one; a model the engine does not cover
    // (or a module that did not load) stays on tfjs's CPU backend.
    const onGpu = await (gpuEngine ??= hardwareWebGpu().catch(() => false));
    const engine = await (onGpu ? engineClassifier(model.model) : compileEngine().then((module) => engineClassifier(model.model, module))).catch(() => null);
    if (engine !== null) {
      const release = model.dispose;
      Object.assign(model, { engine, dispose: () => { engine.dispose(); release(); } });
    }
    loaded?.model.dispose();
    loaded = { key, model, backend: engine === null ? chosen : onGpu ? ENGINE_BACKEND : ENGINE_CPU_BACKEND };
    // The first prediction compiles kernels; pay for it now, not on the first stroke.
    await classifyBitmap(model, new Uint8Array(784));
  }
  return { labels: loaded.model.labels, backend: loaded.backend };
}

const api = {
  /** Loads a run's latest weights; returns its labels and the backend used. */
  async useRun(runId: string, siteUrl: string): Promise<{ labels: string[]; backend: BackendChoice }> {
    return use(runChoice(runId), async () => {
      const { model } = await loadStoredRun(runs, runId, (url) => tf.io.http(new URL(url, siteUrl).href));
      return model;
    });
  },

  async useModel(modelId: string): Promise<{ labels: string[]; backend: BackendChoice }> {
    return use(modelChoice(modelId), async () => {
      const stored = await runs.getModel(modelId);
      if (stored === undefined) throw new Error('This imported model is no longer stored.');
      const model = await loadChecked(stored);
      return {
        model, labels: stored.info.labels, inputSizePx: stored.info.imageSize, inkOnWhite: stored.info.inkOnWhite, testTimeAugmentation: stored.info.testTimeAugmentation,
        dispose: () => model.dispose(),
      };
    });
  },

  /** Checks and stores model files as a new imported model; a bad set throws a message saying what to fix. A model
   * trained elsewhere (scale/train.py) also becomes a row of the Runs table. */
  async importModel(files: ModelFile[]): Promise<{ modelId: string; info: ImportedModelInfo }> {
    await (backend ??= cpuBackend());
    const checked = checkModelFiles(files);
    (await loadChecked(checked)).dispose();
    const modelId = newId('model');
    const info = { ...checked.info, name: distinctName(checked.info.name, (await runs.listModels()).map((m) => m.info.name)) };
    const now = Date.now();
    await runs.putModel({ ...checked, info, modelId, importedAt: now });
    const run = importedRun(newId('run'), modelId, info, now);
    if (run !== null) await runs.putRun(run);
    return { modelId, info };
  },

  /** Forgets an imported model (its files stay wherever they came from). */
  async deleteModel(modelId: string): Promise<void> {
    if (loaded?.key === modelChoice(modelId)) {
      loaded.model.dispose();
      loaded = null;
    }
    await runs.deleteModel(modelId);
  },

  async listModels(): Promise<{ modelId: string; info: ImportedModelInfo; importedAt: number }[]> {
    return runs.listModels();
  },

  async classify(strokes: Strokes): Promise<ClassifyResult> {
    if (loaded === null) throw new Error('Choose a model first.');
    const started = performance.now();
    const guesses = await classifyBitmap(loaded.model, strokesToBitmap(strokes));
    return { guesses, workerMs: performance.now() - started };
  },

  /** Classifies an uploaded image file (its bytes transferred here) by ImageNet MobileNet or the model in use. */
  async classifyImage(bytes: ArrayBuffer, fileName: string, using: ImageModelChoice, siteUrl: string): Promise<ImageClassifyResult> {
    await (backend ??= cpuBackend());
    if (using === 'selected') {
      if (loaded === null) throw new Error('Choose a model to play with first, or classify with ImageNet MobileNet.');
      return classifyImageFile(bytes, fileName, { kind: 'selected', classifier: loaded.model });
    }
    imagenet ??= loadImagenet(siteUrl).catch((error: unknown) => {
      imagenet = null;
      throw new Error(`ImageNet MobileNet could not be loaded from this site (${messageOf(error)}); run npm run assets and rebuild.`);
    });
    return classifyImageFile(bytes, fileName, { kind: 'imagenet', model: await imagenet });
  },
};

export type InferWorkerApi = typeof api;

Comlink.expose(api);
