// Page-side state of the Play page: which trained run guesses, the strokes on the canvas, the live guesses
// and how long they took. Owns the inference worker. Main thread.
import * as Comlink from 'comlink';
import type { InferWorkerApi } from '../../workers/infer.worker.ts';
import type { Guess } from '../core/inference.ts';
import type { Strokes } from '../core/ndjson.ts';
import type { BackendChoice } from '../core/run-protocol.ts';

/** While a stroke is being drawn, guesses are refreshed at most this often. */
export const DRAWING_REFRESH_MS = 150;

export class PlayState {
  runId = $state<string | null>(null);
  labels = $state<string[]>([]);
  backend = $state<BackendChoice | null>(null);
  strokes = $state<Strokes>([]);
  guesses = $state<Guess[]>([]);
  /** From the stroke's end (or a throttled move) to guesses on screen, as measured on the page. */
  latencyMs = $state<number | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);

  private readonly api: Comlink.Remote<InferWorkerApi>;
  private inFlight = false;
  private queued: Strokes | null = null;
  private lastMoveMs = 0;

  constructor(private readonly siteUrl: string = document.baseURI) {
    this.api = Comlink.wrap<InferWorkerApi>(new Worker(new URL('../../workers/infer.worker.ts', import.meta.url), { type: 'module' }));
  }

  async useRun(runId: string): Promise<void> {
    this.loading = true;
    this.error = null;
    try {
      const { labels, backend } = await this.api.useRun(runId, this.siteUrl);
      this.runId = runId;
      this.labels = labels;
      this.backend = backend;
      await this.guess(this.strokes);
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    } finally {
      this.loading = false;
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
    if (this.runId === null) return;
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
      this.error = error instanceof Error ? error.message : String(error);
    } finally {
      this.inFlight = false;
    }
    const next = this.queued;
    this.queued = null;
    if (next !== null) await this.guess(next);
  }
}
