// Page-side state of "Classify an image" on the Play page: the uploaded file and its preview, which model
// classifies it, the top guesses and how long they took. Talks to the Play page's inference worker (owned by
// PlayState), sending each file's bytes as a transferred ArrayBuffer. Main thread.
import * as Comlink from 'comlink';
import type { InferWorkerApi } from '../../workers/infer.worker.ts';
import { toErrorInfo, type DataErrorInfo } from '../core/errors.ts';
import type { ImageModelChoice } from '../core/inference/image-classify.ts';
import type { Guess } from '../core/inference/inference.ts';

export class UploadState {
  using = $state<ImageModelChoice>('imagenet');
  file = $state<File | null>(null);
  /** An object URL of the last image that classified; revoked when replaced. */
  previewUrl = $state<string | null>(null);
  guesses = $state<Guess[]>([]);
  /** What the model was fed: the photo, or the picture read as a drawing (models trained on sketches). */
  input = $state<'photo' | 'drawing' | null>(null);
  /** From choosing the file (or the model) to guesses on screen, as measured on the page; includes a first model load. */
  latencyMs = $state<number | null>(null);
  workerMs = $state<{ decodeMs: number; predictMs: number } | null>(null);
  busy = $state(false);
  error = $state<DataErrorInfo | null>(null);

  /** Numbers each classification, so a slower earlier one never overwrites the answer for a newer file or model. */
  private latest = 0;

  constructor(private readonly api: Comlink.Remote<InferWorkerApi>, private readonly siteUrl: string) {}

  async upload(file: File): Promise<void> {
    this.file = file;
    await this.classify();
  }

  /** Switching the model re-classifies the image on screen, so the two can be compared. */
  async choose(using: ImageModelChoice): Promise<void> {
    this.using = using;
    if (this.file !== null) await this.classify();
  }

  /** The Play page switched models: an image classified by the selected model is classified again. */
  modelChanged(): void {
    if (this.using === 'selected') void this.classify();
  }

  private async classify(): Promise<void> {
    const file = this.file;
    if (file === null) return;
    const request = ++this.latest;
    this.busy = true;
    this.error = null;
    const started = performance.now();
    try {
      // A fresh buffer each time: the transfer empties it on this side.
      const bytes = await file.arrayBuffer();
      const result = await this.api.classifyImage(Comlink.transfer(bytes, [bytes]), file.name, this.using, this.siteUrl);
      if (request !== this.latest) return;
      if (this.previewUrl !== null) URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = URL.createObjectURL(file);
      this.guesses = result.guesses;
      this.input = result.input;
      this.workerMs = { decodeMs: result.decodeMs, predictMs: result.predictMs };
      this.latencyMs = performance.now() - started;
    } catch (error) {
      if (request !== this.latest) return;
      // What was shown before stays consistent: a file that failed shows no guesses of another file.
      this.guesses = [];
      this.input = null;
      this.latencyMs = null;
      this.workerMs = null;
      if (this.previewUrl !== null) URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = null;
      this.error = toErrorInfo(error);
    } finally {
      if (request === this.latest) this.busy = false;
    }
  }
}
