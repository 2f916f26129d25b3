// The headless pipeline's page script (main thread): drives the same data and trainer workers the UI uses —
// ingest (download or import), train, evaluate, export — for datasets/pipeline.ts, which calls the
// functions put on `window.doodlePipeline` and receives progress lines through `window.pipelineLog`.
import * as Comlink from 'comlink';
import type { DataWorkerApi } from '../../workers/data.worker.ts';
import type { TrainerWorkerApi } from '../../workers/trainer.worker.ts';
import type { ImportFile, ImportProgress, IngestProgress } from '../core/ingest/ingest-protocol.ts';
import type { RunRecord, TrainProgress } from '../core/training/run-protocol.ts';
import { parseConfig, type TrainConfig } from '../core/training/train-config.ts';
import type { PipelineApi } from './pipeline-protocol.ts';

const data = Comlink.wrap<DataWorkerApi>(new Worker(new URL('../../workers/data.worker.ts', import.meta.url), { type: 'module' }));
const trainer = Comlink.wrap<TrainerWorkerApi>(new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' }));
const log = (line: string): void => (window as unknown as { pipelineLog?: (l: string) => void }).pipelineLog?.(line);

async function importInto(urls: string[], datasetId: string, label: string): Promise<{ categories: string[]; drawings: number }> {
  const files: ImportFile[] = await Promise.all(urls.map(async (url) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: the server answered ${response.status}`);
    return { path: decodeURIComponent(url.split('/').pop() ?? url), bytes: await response.arrayBuffer() };
  }));
  const stored: string[] = [];
  const problems: string[] = [];
  let drawings = 0;
  await data.importFiles(files, Comlink.proxy((event: ImportProgress) => {
    if (event.kind === 'file-stored') {
      stored.push(event.category);
      drawings += event.drawings;
      log(`imported ${event.drawings} drawings of ${event.category} into ${datasetId}`);
    } else if (event.kind === 'file-skipped') problems.push(event.error.message);
  }), { datasetId, label, source: 'local' });
  if (problems.length > 0) throw new Error(`Import into ${datasetId} failed: ${problems.join('; ')}`);
  return { categories: [...new Set(stored)], drawings };
}

const api: PipelineApi = {
  async ingest({ siteUrl, config, trainFiles, testFiles }) {
    if (trainFiles.length > 0) {
      const train = await importInto(trainFiles, 'pipeline-train', 'Pipeline training set');
      // The source replaces the dataset: its categories, in the config's order where the config names them.
      const named = config.dataset.categories.filter((c) => train.categories.includes(c));
      const categories = [...named, ...train.categories.filter((c) => !named.includes(c)).sort()];
      const next: TrainConfig = { ...config, dataset: { ...config.dataset, datasetId: 'pipeline-train', categories } };
      let drawings = train.drawings;
      if (testFiles.length > 0) {
        const test = await importInto(testFiles, 'pipeline-test', 'Pipeline test set');
        const missing = categories.filter((c) => !test.categories.includes(c));
        if (missing.length > 0) throw new Error(`The test source has no files for: ${missing.join(', ')}`);
        next.dataset.testDatasetId = 'pipeline-test';
        drawings += test.drawings;
      }
      return { config: parseConfig(next), drawings };
    }
    let last: IngestProgress | null = null;
    await data.download(
      { manifestUrl: new URL('assets/data/quickdraw/manifest.json', siteUrl).href, categories: config.dataset.categories, maxPerCategory: config.dataset.maxPerCategory },
      Comlink.proxy((event: IngestProgress) => {
        last = event;
        if (event.kind === 'shard-stored') log(`stored ${event.storedDrawings} drawings (${event.category})`);
      }),
    );
    const end = last as IngestProgress | null; // assigned by the progress callback above
    if (end?.kind !== 'done') throw new Error(`Download did not finish: ${end?.kind === 'error' ? end.error.message : end?.kind ?? 'no progress at all'}`);
    return { config, drawings: end.storedDrawings };
  },

  async train(config, siteUrl) {
    let lastLog = 0;
    return trainer.train(config, siteUrl, Comlink.proxy((p: TrainProgress) => {
      if (p.kind === 'batch' && performance.now() - lastLog < 5000) return;
      lastLog = performance.now();
      log(describe(p));
    }));
  },

  async exportRun(runId, siteUrl) {
    const files = await trainer.exportRun(runId, siteUrl);
    const bytes = new Uint8Array(files['weights.bin']);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { modelJson: files['model.json'], weightsBase64: btoa(binary), metadataJson: files['metadata.json'] };
  },
};

function describe(p: TrainProgress): string {
  switch (p.kind) {
    case 'backend': return `backend: ${p.backend.reason}`;
    case 'phase': return `${p.phase}: ${p.detail}`;
    case 'caching': return `caching: ${p.done} / ${p.total}`;
    case 'batch': return `epoch ${p.epoch} batch ${p.batch}/${p.batches}: loss ${p.loss.toFixed(4)}, accuracy ${(p.accuracy * 100).toFixed(1)} %, ${p.samplesPerSec.toFixed(1)} samples/s`;
    case 'epoch': return `epoch ${p.metrics.epoch}: loss ${p.metrics.loss.toFixed(4)} acc ${(p.metrics.accuracy * 100).toFixed(1)} % · val loss ${p.metrics.valLoss?.toFixed(4) ?? '—'} val acc ${p.metrics.valAccuracy === null ? '—' : (p.metrics.valAccuracy * 100).toFixed(1)} % · ${p.metrics.samplesPerSec.toFixed(1)} samples/s, ${p.metrics.seconds.toFixed(1)} s`;
    case 'error': return `error: ${p.message}`;
    default: return p.kind;
  }
}

(window as unknown as { doodlePipeline: PipelineApi }).doodlePipeline = api;
