// Page-side state of the Play page: which trained run guesses, the strokes on the canvas, the live guesses
// and how long they took. Owns the inference worker. Main thread.
import * as Comlink from 'comlink';
import { WorkerClient } from './worker-client.ts';
import type { InferWorkerApi } from '../../workers/infer.worker.ts';
import { toErrorInfo, type DataErrorInfo } from '../core/errors.ts';
import { modelChoice, parseChoice } from '../core/inference/choice.ts';
import type { Guess } from '../core/inference/inference.ts';
import type { ImportedModelInfo, ModelFile } from '../core/exchange/model-import.ts';
import type { Strokes } from '../core/data/ndjson.ts';
import type { BackendChoice } from '../core/training/run-protocol.ts';
import type { ListState } from './list-state.ts';
import { UploadState } from './upload.svelte.ts';

/** While a stroke is being drawn, guesses are refreshed at most this often. */
export const DRAWING_REFRESH_MS = 150;

export class PlayState {
  /** A choice made by runChoice or modelChoice (core/inference/choice.ts). */
  selected = $state<string | null>(null);
  models = $state<{ modelId: string; info: ImportedModelInfo; importedAt: number }[]>([]);
  /** 'loading' until the imported models have been listed once (the page says so, not "none"). */
  modelsState = $state<ListState>('loading');
  importNote = $state<string | null>(null);
  labels = $state<string[]>([]);
  backend = $state<BackendChoice | null>(null);
  strokes = $state<Strokes>([]);
  guesses = $state<Guess[]>([]);
  /** From the stroke's end (or a throttled move) to guesses on screen, as measured on the page. */
  latencyMs = $state<number | null>(null);
  loading = $state(false);
  error = $state<DataErrorInfo | null>(null);
  /** "Classify an image": shares this page's inference worker, so it can use the model chosen here. */
  readonly upload: UploadState;

  private readonly api: Comlink.Remote<InferWorkerApi>;
  private inFlight = false;
  private queued: Strokes | null = null;
  private lastMoveMs = 0;

  constructor(private readonly siteUrl: string = document.baseURI) {
    this.api = new WorkerClient<InferWorkerApi>('inference worker', () => new Worker(new URL('../../workers/infer.worker.ts', import.meta.url), { type: 'module' }),
      (error) => (this.error = toErrorInfo(error))).api;
    this.upload = new UploadState(this.api, siteUrl);
  }

  get runId(): string | null {
    const choice = parseChoice(this.selected);
    return choice?.kind === 'run' ? choice.id : null;
  }

  get modelId(): string | null {
    const choice = parseChoice(this.selected);
    return choice?.kind === 'model' ? choice.id : null;
  }

  async refreshModels(): Promise<void> {
    try {
      this.models = await this.api.listModels();
      this.modelsState = 'loaded';
    } catch (error) {
      this.error = toErrorInfo(error);
      this.modelsState = 'unreadable';
    }
  }

  /** Reads the imported models again after they could not be read; the banner goes, and comes back on failure. */
  async rereadModels(): Promise<void> {
    this.error = null;
    this.modelsState = 'loading';
    await this.refreshModels();
  }

  /** Forgets an imported model; when it was the one in use, nothing is chosen until the next choice. */
  async deleteModel(modelId: string): Promise<void> {
    this.error = null;
    try {
      await this.api.deleteModel(modelId);
      if (this.selected === modelChoice(modelId)) {
        this.selected = null;
        this.labels = [];
        this.guesses = [];
        this.latencyMs = null;
        this.upload.modelChanged();
      }
      this.importNote = null;
      await this.refreshModels();
    } catch (error) {
      this.error = toErrorInfo(error);
    }
  }

  /** Switches to a choice made by runChoice or modelChoice. */
  async use(selection: string): Promise<void> {
    this.loading = true;
    this.error = null;
    try {
      const choice = parseChoice(selection);
      if (choice === null) throw new Error(`There is no model "${selection}" to play with.`);
      const { labels, backend } = choice.kind === 'run' ? await this.api.useRun(choice.id, this.siteUrl) : await this.api.useModel(choice.id);
      this.selected = selection;
      this.labels = labels;
      this.backend = backend;
      this.upload.modelChanged();
      await this.guess(this.strokes);
    } catch (error) {
      this.error = toErrorInfo(error);
    } finally {
      this.loading = false;
    }
  }

  /** Checks and stores model files (model.json, weights, metadata.json), then plays with them. */
  async importModel(files: File[]): Promise<void> {
    this.error = null;
    this.importNote = null;
    try {
      const payload: ModelFile[] = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })));
      const { modelId, info } = await this.api.importModel(Comlink.transfer(payload, payload.map((p) => p.bytes)));
      const reported = info.reportedTop1 === undefined ? '' : `, which reported ${(info.reportedTop1 * 100).toFixed(1)} % test top-1`;
      const where = info.trainedWith === undefined ? '' : ` Trained with ${info.trainedWith}${reported}.`;
      this.importNote = `Imported “${info.name}” (${info.kind === 'teachable-machine' ? 'Teachable Machine' : 'Doodle Lab'}, ${info.labels.length} classes).${where}`;
      await this.refreshModels();
      await this.use(modelChoice(modelId));
    } catch (error) {
      this.error = toErrorInfo(error);
    }
  }

  /** A finished stroke: always classified (after any guess in flight). */
  onStroke(strokes: Strokes): void {
    this.strokes = strokes;
    void this.guess(strokes);
  }

  /** A stroke in progress: classified at most every DRAWING_REFRESH_MS. */
  onDrawing(strokes: Strokes): void {
    const now = performance.now();
    if (now - this.lastMoveMs < DRAWING_REFRESH_MS || this.inFlight) return;
    this.lastMoveMs = now;
    void this.guess(strokes);
  }

  undo(): void {
    this.onStroke(this.strokes.slice(0, -1));
  }

  clear(): void {
    this.onStroke([]);
  }

  private async guess(strokes: Strokes): Promise<void> {
    if (this.selected === null) return;
    if (strokes.length === 0) {
      this.guesses = [];
      this.latencyMs = null;
      return;
    }
    if (this.inFlight) {
      this.queued = strokes;
      return;
    }
    this.inFlight = true;
    const started = performance.now();
    try {
      const result = await this.api.classify($state.snapshot(strokes) as Strokes);
      this.guesses = result.guesses;
      this.latencyMs = performance.now() - started;
    } catch (error) {
      this.error = toErrorInfo(error);
    } finally {
      this.inFlight = false;
    }
    const next = this.queued;
    this.queued = null;
    if (next !== null) await this.guess(next);
  }
}
