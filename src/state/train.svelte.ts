// Page-side state of the Train page: the config being edited, the live run (backend, phase, curves, speed),
// the runs table and the comparison. Owns the trainer worker (the only code that talks to it). Main thread.
import * as Comlink from 'comlink';
import { WorkerClient } from './worker-client.ts';
import type { ListState } from './list-state.ts';
import type { TrainerWorkerApi } from '../../workers/trainer.worker.ts';
import { messageOf, problem, toErrorInfo, type DataErrorInfo } from '../core/errors.ts';
import type { ExportedFiles } from '../core/exchange/export.ts';
import type { DownloadFile, ExportOptions, ExportReport } from '../core/exchange/export-report.ts';
import { positionLabel, type BackendChoice, type EpochMetrics, type EvaluateProgress, type RunRecord, type TrainProgress } from '../core/training/run-protocol.ts';
import { plainMessage, storageProblem } from '../core/training/config-problems.ts';
import type { StoredDatasetSummary } from '../core/ingest/ingest-protocol.ts';
import { distinctName } from '../core/training/names.ts';
import { ConfigError, PRESETS, parseConfig, type TrainConfig } from '../core/training/train-config.ts';

export const DEFAULT_PRESET = 'last blocks';

export interface LiveRun {
  runId: string | null;
  /** 'pausing' and 'cancelling': asked for, until the worker reaches the end of the batch in flight. */
  status: 'starting' | 'running' | 'pausing' | 'paused' | 'cancelling' | 'done' | 'cancelled' | 'failed';
  backend: BackendChoice | null;
  phase: string;
  detail: string;
  epoch: number;
  /** The running run's epoch count (the form may show another config). */
  totalEpochs: number;
  batch: number;
  batches: number;
  loss: number | null;
  accuracy: number | null;
  samplesPerSec: number | null;
  etaSec: number | null;
  /** Frozen features computed before training (head-only and last-blocks runs); null when the run caches none. */
  caching: { done: number; total: number; etaSec: number | null } | null;
  epochs: EpochMetrics[];
  /** Loss of the most recent batches (at most 200), for the live chart. */
  batchLoss: number[];
  lastCheckpoint: string | null;
}

function emptyLive(runId: string | null, epochs: EpochMetrics[] = []): LiveRun {
  return {
    runId, status: 'starting', backend: null, phase: 'starting', detail: '', epoch: 0, totalEpochs: 0, batch: 0, batches: 0, loss: null,
    accuracy: null, samplesPerSec: null, etaSec: null, caching: null, epochs, batchLoss: [], lastCheckpoint: null,
  };
}

export class TrainState {
  config = $state<TrainConfig>(structuredClone(PRESETS[DEFAULT_PRESET]!));
  preset = $state<string>(DEFAULT_PRESET);
  live = $state<LiveRun | null>(null);
  runs = $state<RunRecord[]>([]);
  /** 'loading' until the runs have been listed once (the page says so, not "no runs yet"); 'unreadable' after a
   * failed read, since a list read before may be stale. */
  runsState = $state<ListState>('loading');
  compare = $state<string[]>([]);
  error = $state<DataErrorInfo | null>(null);
  /** The run being evaluated again and what the worker is doing; the last such attempt's failure, per run. */
  evaluating = $state<{ runId: string; detail: string } | null>(null);
  evaluationError = $state<{ runId: string; message: string } | null>(null);

  private readonly api: Comlink.Remote<TrainerWorkerApi>;

  constructor(private readonly siteUrl: string = document.baseURI) {
    this.api = new WorkerClient<TrainerWorkerApi>('training worker', () => new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' }),
      (error) => (this.error = toErrorInfo(error))).api;
  }

  get presetNames(): string[] {
    return Object.keys(PRESETS);
  }

  get busy(): boolean {
    return this.live !== null && !['done', 'cancelled', 'failed'].includes(this.live.status);
  }

  applyPreset(name: string): void {
    const preset = PRESETS[name];
    if (preset === undefined) return;
    this.preset = name;
    this.config = structuredClone(preset);
  }

  async refresh(): Promise<void> {
    try {
      this.runs = await this.api.listRuns();
      this.runsState = 'loaded';
    } catch (error) {
      this.error = toErrorInfo(error);
      this.runsState = 'unreadable';
    }
  }

  /** Reads the runs again after they could not be read (once the person has done what the banner said): the banner
   * goes, and comes back if they still cannot be read. */
  async rereadRuns(): Promise<void> {
    this.error = null;
    this.runsState = 'loading';
    await this.refresh();
  }

  /** Validates the edited config (and, given the stored datasets, that its classes are stored) and starts a run
   * with it; a config with a problem is explained in plain words and never becomes a run. */
  async train(stored?: readonly StoredDatasetSummary[]): Promise<void> {
    let config: TrainConfig;
    try {
      config = parseConfig($state.snapshot(this.config));
      // Two runs of one preset would otherwise share a name in the runs table and on the Play page.
      config.name = distinctName(config.name, this.runs.map((r) => r.config.name));
    } catch (error) {
      this.error = error instanceof ConfigError ? problem(error.plainMessage) : toErrorInfo(error);
      return;
    }
    const missing = stored === undefined ? null : storageProblem(config, stored);
    if (missing !== null) {
      this.error = problem(plainMessage([missing]));
      return;
    }
    this.error = null;
    this.live = emptyLive(null);
    await this.follow(() => this.api.train(config, this.siteUrl, Comlink.proxy((p: TrainProgress) => this.onProgress(p))));
  }

  /** Continues a paused, interrupted or failed run from its last checkpoint. */
  async resumeRun(run: RunRecord): Promise<void> {
    this.error = null;
    this.live = emptyLive(run.runId, [...run.epochs]);
    await this.follow(() => this.api.resumeRun(run.runId, this.siteUrl, Comlink.proxy((p: TrainProgress) => this.onProgress(p))));
  }

  private async follow(start: () => Promise<RunRecord>): Promise<void> {
    // The runs table is refreshed when the worker reports the run 'started', and again at the end.
    try {
      const run = await start();
      if (this.live !== null) {
        this.live.runId = run.runId;
        this.live.status = run.status === 'done' ? 'done' : run.status === 'cancelled' ? 'cancelled' : 'failed';
        this.live.phase = run.status === 'done' ? 'finished' : run.status === 'cancelled' ? 'cancelled' : 'failed';
        this.live.detail = run.status === 'done'
          ? (run.test === null ? 'no test split to evaluate' : `${(run.test.top1 * 100).toFixed(1)} % right on ${run.test.count} held-out test drawings`)
          : run.status === 'cancelled' ? 'resume it from the Runs table to go on from its last checkpoint' : run.error ?? '';
        this.live.etaSec = null;
      }
      if (run.status === 'failed' && run.error !== null) this.error = problem(run.error);
    } catch (error) {
      this.error = toErrorInfo(error);
      if (this.live !== null) Object.assign(this.live, { status: 'failed', phase: 'failed', detail: this.error.message, etaSec: null });
    }
    await this.refresh();
  }

  private onProgress(p: TrainProgress): void {
    const live = this.live;
    if (live === null) return;
    switch (p.kind) {
      case 'started':
        live.runId = p.runId;
        live.lastCheckpoint = p.resumedFrom === null ? null : `resumed at ${positionLabel(p.resumedFrom)}`;
        // As the worker does with the record: epochs stored after the checkpoint will be trained again.
        if (p.resumedFrom !== null) live.epochs = live.epochs.slice(0, p.resumedFrom.epoch);
        void this.refresh();
        break;
      case 'backend':
        live.backend = p.backend;
        break;
      case 'phase':
        live.phase = p.phase;
        live.detail = p.detail;
        if ((p.phase === 'training' || p.phase === 'caching') && live.status === 'starting') live.status = 'running';
        break;
      case 'caching':
        live.caching = { done: p.done, total: p.total, etaSec: p.etaSec };
        break;
      case 'batch':
        // A Pause or Cancel pressed while this batch ran keeps saying so until the worker acts on it.
        if (live.status !== 'pausing' && live.status !== 'cancelling') live.status = 'running';
        Object.assign(live, { epoch: p.epoch, totalEpochs: p.epochs, batch: p.batch, batches: p.batches, loss: p.loss, accuracy: p.accuracy, samplesPerSec: p.samplesPerSec, etaSec: p.etaSec });
        live.batchLoss = [...live.batchLoss.slice(-199), p.loss];
        break;
      case 'epoch':
        live.epochs.push(p.metrics);
        live.lastCheckpoint = `after epoch ${p.metrics.epoch}`;
        void this.refresh();
        break;
      case 'checkpoint':
        live.lastCheckpoint = positionLabel(p);
        break;
      case 'paused':
        if (live.status !== 'cancelling') live.status = 'paused';
        break;
      case 'resumed':
        if (live.status !== 'cancelling') live.status = 'running';
        break;
      case 'done':
      case 'cancelled':
        live.runId = p.run.runId;
        break;
      case 'error':
        this.error = problem(p.message);
        break;
    }
  }

  async pause(): Promise<void> {
    if (this.live?.status === 'running') this.live.status = 'pausing';
    await this.api.pause();
  }

  async resume(): Promise<void> {
    await this.api.resume();
  }

  async cancel(): Promise<void> {
    if (this.busy && this.live !== null) this.live.status = 'cancelling';
    await this.api.cancel();
  }

  async deleteRun(runId: string): Promise<void> {
    try {
      await this.api.deleteRun(runId);
      this.compare = this.compare.filter((id) => id !== runId);
    } catch (error) {
      this.error = toErrorInfo(error);
    }
    await this.refresh();
  }

  /** Recomputes a finished run's test metrics and gallery of mistakes in the trainer worker. */
  async evaluateAgain(runId: string): Promise<void> {
    if (this.evaluating !== null) return;
    this.evaluating = { runId, detail: 'Starting' };
    this.evaluationError = null;
    try {
      await this.api.evaluateRun(runId, this.siteUrl, Comlink.proxy((p: EvaluateProgress) => {
        if (this.evaluating?.runId === runId) this.evaluating.detail = p.detail;
      }));
    } catch (error) {
      this.evaluationError = { runId, message: messageOf(error) };
    } finally {
      this.evaluating = null;
    }
    await this.refresh();
  }

  toggleCompare(runId: string): void {
    this.compare = this.compare.includes(runId) ? this.compare.filter((id) => id !== runId) : [...this.compare, runId].slice(-2);
  }

  /** The run's weights as tfjs files, for download or the pipeline. */
  exportRun(runId: string): Promise<ExportedFiles> {
    return this.api.exportRun(runId, this.siteUrl);
  }

  /** Downloads the run as loose files or one .zip at the chosen weight precision; what it cost, for the page. */
  async exportDownload(runId: string, options: ExportOptions): Promise<ExportReport> {
    const { files, report } = await this.api.exportDownload(runId, this.siteUrl, options);
    saveFiles(files);
    return report;
  }

  /** The Runs table's Export: full-precision loose files; errors shown on the Train page. */
  async download(runId: string): Promise<void> {
    try {
      await this.exportDownload(runId, { precision: 'float32', zip: false });
    } catch (error) {
      this.error = toErrorInfo(error);
    }
  }

  /** The Runs table's Export for a cluster: config, dataset selection and weights as one .zip for scale/train.py. */
  async downloadForCluster(runId: string): Promise<void> {
    try {
      saveFiles([await this.api.exportForCluster(runId, this.siteUrl)]);
    } catch (error) {
      this.error = toErrorInfo(error);
    }
  }

  setCheckpointInterval(seconds: number): Promise<void> {
    return this.api.setCheckpointInterval(seconds);
  }
}

function saveFiles(files: DownloadFile[]): void {
  for (const { name, bytes } of files) {
    const url = URL.createObjectURL(new Blob([bytes]));
    const link = Object.assign(document.createElement('a'), { href: url, download: name });
    link.click();
    // The browser reads the blob when the download starts, which is after click() returns.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
