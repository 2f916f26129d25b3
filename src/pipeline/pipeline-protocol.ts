// What the headless pipeline (datasets/pipeline.ts, Node) calls on its page (pipeline-page.ts): plain data only.
import type { RunRecord } from '../core/training/run-protocol.ts';
import type { TrainConfig } from '../core/training/train-config.ts';

export interface IngestRequest {
  siteUrl: string;
  config: TrainConfig;
  /** URLs of Google-format files replacing the config's dataset, and of a separate test set. */
  trainFiles: string[];
  testFiles: string[];
}

export interface ExportedBase64 {
  modelJson: string;
  weightsBase64: string;
  metadataJson: string;
}

export interface PipelineApi {
  ingest(request: IngestRequest): Promise<{ config: TrainConfig; drawings: number }>;
  train(config: TrainConfig, siteUrl: string): Promise<RunRecord>;
  exportRun(runId: string, siteUrl: string): Promise<ExportedBase64>;
}

