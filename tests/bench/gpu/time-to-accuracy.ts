// Time to accuracy on a lent GPU (issue 15: validation ≥ 94 % within 5 minutes; issue 12: the quality config in full
// through the engine). Trains a config from datasets/configs (the kit carries them; CONFIG picks one, fast.json by
// default) with the app's Trainer on the engine's WebGPU path, on Dawn from Node, from the drawings the kit carries
// (Google's .npy files, one per category), split by the app's own code (training-data.ts reading them as if from the
// store), and reports validation accuracy after each epoch against minutes since the script started (reading data,
// loading weights and compiling kernels included), then top-1 and top-3 on the test split with the config's
// test-time augmentation. Training stops once BUDGET_SEC have passed since the script started (the learning-rate
// schedule still planned over the config's epochs); the test figure is then the stopped model's, and says so. OVERRIDE (JSON) is merged into the config: a
// shortened run, or a tiny one to try the kit on SwiftShader. DATA is the folder of .npy files (run-all.sh unpacks the
// kit's there). Results go to $OUT/time-to-accuracy.json and stdout.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { folderHandler, startDawn } from './dawn.ts';

const here = path.dirname(process.argv[1] ?? '.');
const out = process.env['OUT'] ?? here;
const budgetSec = Number(process.env['BUDGET_SEC'] ?? 300);
const configFile = process.env['CONFIG'] ?? path.join(here, 'configs', 'fast.json');
const dataDir = process.env['DATA'] ?? path.join(here, 'quickdraw');
const started = performance.now();
const elapsed = (): number => (performance.now() - started) / 1000;
const minutes = (sec: number): number => Math.round((sec / 60) * 100) / 100;

const { adapter } = await startDawn();
const { parseConfig } = await import('../../../src/core/training/train-config.ts');
const { loadTrainingData } = await import('../../../src/core/training/training-data.ts');
const { Trainer } = await import('../../../src/core/training/training.ts');
const { loadBackbone } = await import('../../../src/core/training/mobilenet.ts');
const { decodeNpy } = await import('../../../src/core/data/npy.ts');
const { BITMAP_BYTES } = await import('../../../src/core/data/render.ts');
type DrawingStore = import('../../../src/core/data/store.ts').DrawingStore;

/** `patch` merged into `base`: objects key by key, anything else replaced. */
function merged(base: unknown, patch: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(base) || !isObject(patch)) return patch;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) result[key] = merged(base[key], value);
  return result;
}

const config = parseConfig(merged(JSON.parse(await readFile(configFile, 'utf8')), JSON.parse(process.env['OVERRIDE'] ?? '{}')));

// The two reads loadTrainingData makes of the store, answered from the .npy files: drawing i of a category is row i,
// as when the pipeline imports the same files.
const files: Pick<DrawingStore, 'getDataset' | 'readDrawings'> = {
  getDataset: async () => undefined,
  readDrawings: async (datasetId, category, offset, limit) => {
    const file = `${category}.npy`;
    const { rows, bitmaps } = decodeNpy(new Uint8Array(await readFile(path.join(dataDir, file))), file, offset + limit);
    return { datasetId, category, offset, total: rows, bitmaps: bitmaps.subarray(offset * BITMAP_BYTES) };
  },
};
const { data } = await loadTrainingData(files as DrawingStore, config);
const counts = { train: data.train.labels.length, validation: data.validation.labels.length, test: data.test.labels.length };
// The served weights' folder name, as the config's model URL names it (assets/models/<folder>/model.json).
const modelDir = path.join(here, 'models', path.basename(path.dirname(config.model.url)));
const trainer = new Trainer(config, await loadBackbone(folderHandler(modelDir), config.inputSizePx), data);
const trainedOn = await trainer.useEngine();

interface EpochRow { epoch: number; valAccuracy: number | null; loss: number; samplesPerSec: number; minutes: number }
const epochs: EpochRow[] = [];
const report: Record<string, unknown> = {
  adapter, config: config.name, configFile: path.basename(configFile), override: process.env['OVERRIDE'] ?? null, trainedOn, onEngine: trainer.onEngine,
  budgetSec, counts, epochs, reached94AfterMinutes: null, stoppedAfterEpochs: null, test: null, totalMinutes: null,
};
const save = () => writeFile(path.join(out, 'time-to-accuracy.json'), JSON.stringify(report, null, 2));
console.log(`adapter: ${String(adapter)}; ${config.name}; ${trainedOn}; ${counts.train} / ${counts.validation} / ${counts.test} drawings`);

const outcome = await trainer.train({
  onProgress: (progress) => {
    if (progress.kind !== 'epoch') return;
    const { metrics } = progress;
    const row = { epoch: metrics.epoch, valAccuracy: metrics.valAccuracy, loss: metrics.loss, samplesPerSec: Math.round(metrics.samplesPerSec), minutes: minutes(elapsed()) };
    epochs.push(row);
    if (report['reached94AfterMinutes'] === null && (row.valAccuracy ?? 0) >= 0.94) report['reached94AfterMinutes'] = row.minutes;
    console.log(`epoch ${row.epoch}: validation ${row.valAccuracy === null ? '—' : `${(row.valAccuracy * 100).toFixed(2)} %`} after ${row.minutes.toFixed(2)} min (${row.samplesPerSec} samples/s)`);
    void save();
  },
  saveCheckpoint: async () => {},
  betweenBatches: async () => (elapsed() > budgetSec ? 'stop' : 'go'),
  checkpointEverySec: 1e9,
});
if (outcome === 'stopped') report['stoppedAfterEpochs'] = epochs.length;
const test = await trainer.evaluateSplit('test');
report['test'] = { top1: test.top1, top3: test.top3, count: test.count, ofAStoppedRun: outcome === 'stopped' };
report['totalMinutes'] = minutes(elapsed());
console.log(`test top-1 ${(test.top1 * 100).toFixed(2)} %, top-3 ${(test.top3 * 100).toFixed(2)} % on ${test.count} drawings${outcome === 'stopped' ? `, stopped by the ${budgetSec} s budget after ${epochs.length} of ${config.epochs} epochs` : ''}`);
console.log(`validation reached 94 % ${report['reached94AfterMinutes'] === null ? 'in no epoch' : `after ${String(report['reached94AfterMinutes'])} min`}`);
trainer.dispose();
await save();
console.log(JSON.stringify(report));
