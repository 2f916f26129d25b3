// `npm run pipeline -- --config <file> --out <dir> [--train-source <dir>] [--test-source <dir>]` (Node):
// serves the built site, opens its pipeline page in headless Chromium and runs ingest → train → evaluate →
// export through the same workers the UI uses; writes <out>/metrics.json and <out>/model/. Exits non-zero
// with a message on any failure.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright';
import { messageOf } from '../src/core/errors.ts';
import type { RunRecord } from '../src/core/training/run-protocol.ts';
import { parseConfig, type TrainConfig } from '../src/core/training/train-config.ts';
import type { PipelineApi } from '../src/pipeline/pipeline-protocol.ts';
import { chromiumLaunchOptions } from '../tests/chromium.ts';
import { serve } from './serve.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');
const SOURCE_FILE = /\.(npy|ndjson)$/i;

export interface PipelineMetrics {
  runId: string;
  top1: number;
  top3: number;
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
  labels: string[];
  samplesPerSec: number;
  secondsPerPhase: { ingest: number; load: number; cache: number; train: number; evaluate: number; export: number; total: number };
  backend: RunRecord['backend'];
  counts: RunRecord['counts'];
  datasetHash: string;
  epochs: RunRecord['epochs'];
  config: TrainConfig;
}

class PipelineError extends Error {}

async function sourceFiles(dir: string | undefined, flag: string): Promise<string[]> {
  if (dir === undefined) return [];
  if (!existsSync(dir)) throw new PipelineError(`${flag} ${dir}: no such directory.`);
  const files = (await readdir(dir)).filter((f) => SOURCE_FILE.test(f)).sort();
  if (files.length === 0) throw new PipelineError(`${flag} ${dir}: no .npy or .ndjson files (Google's Quick, Draw! formats, one file per category).`);
  return files;
}

export async function runPipeline(options: { config: string; out: string; trainSource?: string; testSource?: string; log?: (line: string) => void }): Promise<PipelineMetrics> {
  const log = options.log ?? ((line: string) => console.log(line));
  const started = performance.now();
  if (!existsSync(path.join(DIST, 'src', 'pipeline', 'pipeline.html'))) throw new PipelineError('dist/ has no pipeline page: run `npm run build` first (npm run pipeline does).');
  let config: TrainConfig;
  try {
    config = parseConfig(JSON.parse(await readFile(options.config, 'utf8')));
  } catch (error) {
    throw new PipelineError(`${options.config}: ${messageOf(error)}`);
  }
  if (options.testSource !== undefined && options.trainSource === undefined) throw new PipelineError('--test-source needs --train-source.');
  const trainFiles = await sourceFiles(options.trainSource, '--train-source');
  const testFiles = await sourceFiles(options.testSource, '--test-source');
  const mounts: Record<string, string> = { '/': DIST };
  if (options.trainSource !== undefined) mounts['/pipeline-sources/train/'] = path.resolve(options.trainSource);
  if (options.testSource !== undefined) mounts['/pipeline-sources/test/'] = path.resolve(options.testSource);
  // Longest prefix first, so the source folders win over the site root.
  const { server, origin } = await serve(Object.fromEntries(Object.entries(mounts).sort((a, b) => b[0].length - a[0].length)));
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const page = await (await browser.newContext()).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.exposeFunction('pipelineLog', (line: string) => log(`  ${line}`));
    await page.goto(`${origin}/src/pipeline/pipeline.html`);
    await page.waitForFunction(() => 'doodlePipeline' in window, null, { timeout: 30_000 }).catch(() => {
      throw new PipelineError(`The pipeline page did not start${pageErrors.length > 0 ? `: ${pageErrors.join('; ')}` : ''}.`);
    });
    const call = <K extends keyof PipelineApi>(name: K, ...args: Parameters<PipelineApi[K]>): Promise<Awaited<ReturnType<PipelineApi[K]>>> =>
      // The page put `doodlePipeline` on window (waited for above); arguments and results are plain data.
      page.evaluate(([n, a]) => ((window as unknown as { doodlePipeline: Record<string, (...x: unknown[]) => unknown> }).doodlePipeline[n]!(...a)), [name, args] as const) as never;
    const siteUrl = `${origin}/`;

    log(`ingest: ${trainFiles.length > 0 ? `${trainFiles.length} training files from ${options.trainSource}${testFiles.length > 0 ? `, ${testFiles.length} test files from ${options.testSource}` : ''}` : `download ${config.dataset.categories.length} categories × ≤${config.dataset.maxPerCategory} from the served dataset`}`);
    let t = performance.now();
    const ingested = await call('ingest', {
      siteUrl, config,
      trainFiles: trainFiles.map((f) => `${origin}/pipeline-sources/train/${encodeURIComponent(f)}`),
      testFiles: testFiles.map((f) => `${origin}/pipeline-sources/test/${encodeURIComponent(f)}`),
    });
    const ingestSec = (performance.now() - t) / 1000;
    log(`ingest: ${ingested.drawings} drawings in ${ingestSec.toFixed(1)} s`);

    log(`train: ${config.name} (${config.mode}, ${config.inputSizePx} px, ${config.epochs} epochs)`);
    const run = await call('train', ingested.config, siteUrl);
    if (run.status !== 'done') throw new PipelineError(`Training ${run.status}: ${run.error ?? 'no reason given'}`);
    if (run.test === null) throw new PipelineError('The run has no test drawings to evaluate on: raise split.testFraction or pass --test-source.');

    t = performance.now();
    const files = await call('exportRun', run.runId, siteUrl);
    const exportSec = (performance.now() - t) / 1000;
    const modelDir = path.join(options.out, 'model');
    await mkdir(modelDir, { recursive: true });
    await writeFile(path.join(modelDir, 'model.json'), files.modelJson);
    await writeFile(path.join(modelDir, 'weights.bin'), Buffer.from(files.weightsBase64, 'base64'));
    await writeFile(path.join(modelDir, 'metadata.json'), files.metadataJson);

    const epochs = run.epochs;
    const metrics: PipelineMetrics = {
      runId: run.runId, top1: run.test.top1, top3: run.test.top3, perClass: run.test.perClass, confusion: run.test.confusion, labels: run.labels,
      samplesPerSec: epochs.reduce((a, e) => a + e.samplesPerSec * e.seconds, 0) / Math.max(1e-9, epochs.reduce((a, e) => a + e.seconds, 0)),
      secondsPerPhase: {
        ingest: ingestSec, load: run.timings.loadSec, cache: run.timings.cacheSec, train: run.timings.trainSec, evaluate: run.timings.evaluateSec,
        export: exportSec, total: (performance.now() - started) / 1000,
      },
      backend: run.backend, counts: run.counts, datasetHash: run.datasetHash, epochs, config: run.config,
    };
    await writeFile(path.join(options.out, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
    return metrics;
  } finally {
    await browser.close();
    server.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, out: { type: 'string' }, 'train-source': { type: 'string' }, 'test-source': { type: 'string' } },
  });
  if (values.config === undefined || values.out === undefined) {
    throw new PipelineError('Usage: npm run pipeline -- --config <file> --out <dir> [--train-source <dir>] [--test-source <dir>]');
  }
  const metrics = await runPipeline({
    config: values.config, out: values.out,
    ...(values['train-source'] === undefined ? {} : { trainSource: values['train-source'] }),
    ...(values['test-source'] === undefined ? {} : { testSource: values['test-source'] }),
  });
  console.log(`done: top-1 ${(metrics.top1 * 100).toFixed(1)} %, top-3 ${(metrics.top3 * 100).toFixed(1)} % on ${metrics.counts.test} test drawings; ${metrics.samplesPerSec.toFixed(1)} samples/s on ${metrics.backend?.name}; ${metrics.secondsPerPhase.total.toFixed(0)} s in all`);
  console.log(`wrote ${path.join(values.out, 'metrics.json')} and ${path.join(values.out, 'model')}/`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main().catch((error: unknown) => {
    console.error(`pipeline failed: ${error instanceof PipelineError ? error.message : error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
