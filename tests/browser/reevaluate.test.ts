// Evaluating a finished run again with real IndexedDB: the same metrics as at the end of training, a gallery
// of mistakes that agrees with the confusion matrix (also for a record stored without one), no tensors left
// behind, and an error saying what to do when the drawings are gone.
import * as tf from '@tensorflow/tfjs';
import { afterEach, expect, test } from 'vitest';
import { mistakeCount } from '../../src/core/inference/mistakes.ts';
import { reevaluateRun } from '../../src/core/inference/reevaluate.ts';
import { executeRun, newRun } from '../../src/core/training/run-session.ts';
import type { RunStore } from '../../src/core/training/runs.ts';
import type { DrawingStore } from '../../src/core/data/store.ts';
import { parseConfig, PRESETS } from '../../src/core/training/train-config.ts';
import { BAR_CATEGORIES, barStores } from './helpers.ts';

const CATEGORIES = BAR_CATEGORIES;
let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => cleanup?.());

/** Three classes of vertical bars that overlap a little, so a briefly trained model makes some mistakes. */
async function stores(): Promise<{ drawings: DrawingStore; runs: RunStore }> {
  const { drawings, runs, close } = await barStores('doodle-lab-reevaluate', { seed: 5, perCategory: 40, spacing: 6, maxShift: 8 });
  cleanup = close;
  return { drawings, runs };
}

test('evaluates a finished run again: same metrics, a gallery for an old record, no leaked tensors, a clear error without drawings', async () => {
  const { drawings, runs } = await stores();
  const config = parseConfig({
    ...PRESETS['tiny'], backend: 'cpu', epochs: 1, batchSize: 16,
    dataset: { datasetId: 'quickdraw', categories: CATEGORIES, maxPerCategory: 40 },
  });
  const deps = { drawings, runs, modelHandler: (url: string) => tf.io.http(`/${url}`) };
  const run = await executeRun(newRun(config), { ...deps, checkpointEverySec: 1e9, betweenBatches: async () => 'go', onProgress: () => {} });
  expect(run.status).toBe('done');
  const trained = run.test!;
  expect(trained.mistakes?.total).toBe(mistakeCount(trained.confusion, null));
  expect(trained.mistakes?.total).toBeGreaterThan(0);

  // A record written before the gallery existed.
  const { mistakes: _dropped, ...withoutMistakes } = trained;
  await runs.putRun({ ...run, test: withoutMistakes });
  const phases: string[] = [];
  const baseline = tf.memory().numTensors;
  const again = await reevaluateRun(run.runId, { ...deps, onProgress: (p) => phases.push(p.phase) });
  expect(tf.memory().numTensors).toBe(baseline);
  expect(phases).toContain('evaluating');
  expect(again.test).toEqual(trained);
  expect(again.evaluatedAgain?.datasetHash).toBe(run.datasetHash);
  expect((await runs.getRun(run.runId))?.test?.mistakes?.items.map((m) => m.index)).toEqual(trained.mistakes?.items.map((m) => m.index));

  await reevaluateRun(run.runId, { ...deps, onProgress: () => {} });
  expect(tf.memory().numTensors).toBe(baseline);

  await drawings.deleteDataset('quickdraw');
  await expect(reevaluateRun(run.runId, { ...deps, onProgress: () => {} })).rejects.toThrow(/Cannot evaluate again: No stored drawings of “left”.*download or import them/);
  // The stored evaluation is untouched by the failed attempt.
  expect((await runs.getRun(run.runId))?.test?.top1).toBe(trained.top1);
});
