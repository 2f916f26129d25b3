// "Export for a cluster": one .zip holding what scale/train.py needs to train a run's config on other machines:
// config.json, dataset.json (categories, drawings per category, the manifest's and stored shards' checksums,
// Google's source files), the run's weights as a starting point (model/, as Export writes it) and README.txt with the
// torchrun command. Pure: the trainer worker hands in the exported files and the dataset catalog.
import { zipSync } from 'fflate';
import type { ExportedFiles } from './export.ts';
import type { RunRecord } from '../training/run-protocol.ts';
import type { DatasetRecord } from '../data/database.ts';

/** Where Google publishes each category's bitmaps; the rows the app stored are the first rows of these files. */
export const QUICKDRAW_NUMPY_URL = 'https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap';

export interface ClusterDataset {
  datasetId: string;
  /** The served manifest the drawings were downloaded from ('local' for imports) and its checksum, when known. */
  source: string | null;
  manifestSha256: string | null;
  /** The run's fingerprint of the drawings it read (training-data.ts). */
  datasetHash: string;
  maxPerCategory: number;
  split: RunRecord['config']['split'];
  counts: RunRecord['counts'];
  categories: {
    name: string;
    /** Drawings stored in this browser for the category, of which the run read up to maxPerCategory. */
    storedDrawings: number;
    /** `index:drawings:sha256` of each stored shard, in order: what identifies the drawings read. */
    shards: string[];
    sourceUrl: string;
  }[];
}

export interface ClusterBundle {
  name: string;
  bytes: ArrayBuffer;
}

export function clusterDataset(run: RunRecord, dataset: DatasetRecord | undefined): ClusterDataset {
  const { datasetId, categories, maxPerCategory } = run.config.dataset;
  return {
    datasetId, source: dataset?.source ?? null, manifestSha256: dataset?.manifestSha256 ?? null, datasetHash: run.datasetHash, maxPerCategory, split: run.config.split, counts: run.counts,
    categories: categories.map((name) => {
      const shards = (dataset?.shards ?? []).filter((s) => s.category === name).sort((a, b) => a.index - b.index);
      return {
        name, storedDrawings: shards.reduce((sum, s) => sum + s.drawingCount, 0), shards: shards.map((s) => `${s.index}:${s.drawingCount}:${s.sha256}`),
        sourceUrl: `${QUICKDRAW_NUMPY_URL}/${encodeURIComponent(name)}.npy`,
      };
    }),
  };
}

export function clusterReadme(run: RunRecord): string {
  return [
    `Doodle Lab run “${run.config.name}” (${run.runId}), exported to train at scale with scale/train.py from the Doodle Lab repository.`,
    '',
    'config.json    the run\'s training config (the same schema the app uses; edit epochs, categories, maxPerCategory…)',
    'dataset.json   the categories, drawings per category and stored shard checksums, and Google\'s files to fetch',
    'model/         the run\'s weights as a tfjs LayersModel: a starting point (--model-dir model), or leave it out to start',
    '               from Google\'s ImageNet MobileNet',
    '',
    'On each node, with DATA=<a folder holding the categories\' <category>.npy files (dataset.json sourceUrl)>, or',
    `DATA=${QUICKDRAW_NUMPY_URL} to read the rows needed straight from Google's bucket:`,
    '',
    '  torchrun --nnodes=$NODES --nproc_per_node=$GPUS_PER_NODE --rdzv_backend=c10d --rdzv_endpoint=$HEAD:29500 \\',
    '    -m scale.train --config config.json --train-source $DATA --model-dir model --out OUT',
    '',
    'OUT/model/ (model.json, weights.bin, metadata.json) goes back into the app through Play → Import model.',
    '',
  ].join('\n');
}

export function clusterBundle(run: RunRecord, files: ExportedFiles, dataset: DatasetRecord | undefined): ClusterBundle {
  const text = (value: string) => new TextEncoder().encode(value);
  const bytes = zipSync({
    'config.json': text(`${JSON.stringify(run.config, null, 2)}\n`),
    'dataset.json': text(`${JSON.stringify(clusterDataset(run, dataset), null, 2)}\n`),
    'README.txt': text(clusterReadme(run)),
    'model/model.json': text(files['model.json']), 'model/weights.bin': new Uint8Array(files['weights.bin']), 'model/metadata.json': text(files['metadata.json']),
  }, { level: 6 });
  const stem = run.config.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
  return { name: `doodle-lab-${stem}-cluster.zip`, bytes: bytes.buffer };
}
