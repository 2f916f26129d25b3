// "Export for a cluster": the .zip holds the run's config, its dataset selection with the stored shards'
// checksums and Google's files, a README with the torchrun command, and the run's weights, which the app's
// own Import accepts from inside the archive.
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterBundle } from '../../../src/core/exchange/cluster-export.ts';
import { exportModel } from '../../../src/core/exchange/export.ts';
import { checkModelFiles } from '../../../src/core/exchange/model-import.ts';
import { newRun } from '../../../src/core/training/run-session.ts';
import type { DatasetRecord } from '../../../src/core/data/database.ts';
import { parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';
import { RunModel } from '../../../src/core/training/run-model.ts';
import { folderHandler } from '../model-fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('export for a cluster', () => {
  it('bundles config, dataset selection, README and weights the app can import again', async () => {
    const config = parseConfig({ ...PRESETS['tiny'], name: 'tiny / big', inputSizePx: 32, dataset: { datasetId: 'quickdraw', categories: ['cat', 'The Eiffel Tower'], maxPerCategory: 20 } });
    const model = await RunModel.load(config, folderHandler(), config.dataset.categories.length);
    const run = { ...newRun(config), datasetHash: 'abc123', counts: { train: 24, validation: 8, test: 8 } };
    const files = await exportModel(model, run);
    model.dispose();
    const dataset: DatasetRecord = {
      datasetId: 'quickdraw', label: 'Quick, Draw!', source: 'https://example.org/assets/data/quickdraw/manifest.json', manifestSha256: 'fff', updatedAt: 0,
      shards: [
        { category: 'cat', index: 1, firstIndex: 15, drawingCount: 5, sha256: 'bbb', sizeBytes: 10 }, { category: 'cat', index: 0, firstIndex: 0, drawingCount: 15, sha256: 'aaa', sizeBytes: 10 },
        { category: 'dog', index: 0, firstIndex: 0, drawingCount: 9, sha256: 'ccc', sizeBytes: 10 },
      ],
    };
    const bundle = clusterBundle(run, files, dataset);
    expect(bundle.name).toBe('doodle-lab-tiny-big-cluster.zip');
    const entries = unzipSync(new Uint8Array(bundle.bytes));
    expect(Object.keys(entries).sort()).toEqual(['README.txt', 'config.json', 'dataset.json', 'model/metadata.json', 'model/model.json', 'model/weights.bin']);
    const text = (name: string) => new TextDecoder().decode(entries[name]);
    expect(parseConfig(JSON.parse(text('config.json')))).toEqual(config);
    expect(JSON.parse(text('dataset.json'))).toEqual({
      datasetId: 'quickdraw', source: 'https://example.org/assets/data/quickdraw/manifest.json', manifestSha256: 'fff', datasetHash: 'abc123', maxPerCategory: 20, split: config.split, counts: run.counts,
      categories: [
        { name: 'cat', storedDrawings: 20, shards: ['0:15:aaa', '1:5:bbb'], sourceUrl: 'https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/cat.npy' },
        { name: 'The Eiffel Tower', storedDrawings: 0, shards: [], sourceUrl: 'https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/The%20Eiffel%20Tower.npy' },
      ],
    });
    expect(text('README.txt')).toMatch(/torchrun .*\n.*-m scale\.train --config config\.json --train-source \$DATA --model-dir model/);
    const checked = checkModelFiles([{ name: bundle.name, bytes: bundle.bytes }]);
    expect(checked.info).toMatchObject({ kind: 'doodle-lab', labels: ['cat', 'The Eiffel Tower'], imageSize: 32 });
    expect(new Uint8Array(checked.artifacts.weightData)).toEqual(new Uint8Array(files['weights.bin']));
  });
});
