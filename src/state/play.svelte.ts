// Page-side state of the Play page: which trained run guesses, the strokes on the canvas, the live guesses
// and how long they took. Owns the inference worker. Main thread.
import * as Comlink from 'comlink';
import { WorkerClient } from './worker-client.ts';
import type { InferWorkerApi } from '../../workers/infer.worker.ts';
import { messageOf } from '../core/errors.ts';
import type { Guess } from '../core/inference.ts';
import type { ImportedModelInfo, ModelFile } from '../core/model-import.ts';
import type { Strokes } from '../core/ndjson.ts';
import type { BackendChoice } from '../core/run-protocol.ts';
import { UploadState } from './upload.svelte.ts';

/** While a stroke is being drawn, guesses are refreshed at most this often. */
export const DRAWING_REFRESH_MS = 150;

export class PlayState {
  /** 'run:<runId>' or 'model:<modelId>'. */
  selected = $state<string | null>(null);
  models = $state<{ modelId: string; info: ImportedModelInfo; importedAt: number }[]>([]);
  /** False until the imported models have been listed once (the page says "loading", not "none"). */
  modelsLoaded = $state(false);
  importNote = $state<string | null>(null);
  labels = $state<string[]>([]);
  backend = $state<BackendChoice | null>(null);
  strokes = $state<Strokes>([]);
  guesses = $state<Guess[]>([]);
  /** From the stroke's end (or a throttled move) to guesses on screen, as measured on the page. */
  latencyMs = $state<number | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  /** "Classify an image": shares this page's inference worker, so it can use the model chosen here. */
  readonly upload: UploadState;

  private readonly api: Comlink.Remote<InferWorkerApi>;
  private inFlight = false;
  private queued: Strokes | null = null;
  private lastMoveMs = 0;

  constructor(private readonly siteUrl: string = document.baseURI) {
    this.api = new WorkerClient<InferWorkerApi>('inference worker', () => new Worker(new URL('../../workers/infer.worker.ts', import.meta.url), { type: 'module' }),
      (error) => (this.error = error.message)).api;
    this.upload = new UploadState(this.api, siteUrl);
  }

  get runId(): string | null {
    return this.selected?.startsWith('run:') ? this.selected.slice(4) : null;
  }

  get modelId(): string | null {
    return this.selected?.startsWith('model:') ? this.selected.slice(6) : null;
  }

  async refreshModels(): Promise<void> {
    this.models = await this.api.listModels();
    this.modelsLoaded = true;
  }

  /** Forgets an imported model; when it was the one in use, nothing is chosen until the next choice. */
  async deleteModel(modelId: string): Promise<void> {
    this.error = null;
    try {
      await this.api.deleteModel(modelId);
      if (this.selected === `model:${modelId}`) {
        this.selected = null;
        this.labels = [];
        this.guesses = [];
        this.latencyMs = null;
        this.upload.modelChanged();
      }
      this.importNote = null;
      await this.refreshModels();
    } catch (error) {
      this.error = messageOf(error);
    }
  }

  /** Switches to 'run:<id>' or 'model:<id>'. */
  async use(selection: string): Promise<void> {
    this.loading = true;
    this.error = null;
    try {
      const { labels, backend } = selection.startsWith('run:')
        ? await this.api.useRun(selection.slice(4), this.siteUrl)
        : await this.api.useModel(selection.slice(6));
      this.selected = selection;
      this.labels = labels;
      this.backend = backend;
      this.upload.modelChanged();
      await this.guess(this.strokes);
    } catch (error) {
      this.error = messageOf(error);
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
      await this.use(`model:${modelId}`);
    } catch (error) {
      this.error = messageOf(error);
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
      this.error = messageOf(error);
    } finally {
      this.inFlight = false;
    }
    const next = this.queued;
    this.queued = null;
    if (next !== null) await this.guess(next);
  }
}
