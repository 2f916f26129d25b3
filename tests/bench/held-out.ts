// Scoring exported models on drawings none of them trained on (Node): the built site's dataset read straight from
// dist/, and each model loaded through the app's Import code and run on tfjs's WASM backend. Used by bench:train's
// "same learning", where the three trainers' models are compared on the same held-out drawings.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { concatBytes } from '../../src/core/data/bytes.ts';
import { shardsFor, validateManifest } from '../../src/core/data/manifest.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX } from '../../src/core/data/render.ts';
import { decodeShard } from '../../src/core/data/shard.ts';
import { checkModelFiles, loadChecked } from '../../src/core/exchange/model-import.ts';
import { evaluate } from '../../src/core/inference/metrics.ts';
import { preprocess } from '../../src/core/training/mobilenet.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Bitmaps with their labels: `labels[i]` indexes `categories`. */
export interface Drawings { bitmaps: Uint8Array; labels: number[]; categories: readonly string[] }

/** Drawings `from`…`from + count − 1` of each category in the built site's dataset (dist/). */
export async function servedDrawings(categories: readonly string[], from: number, count: number): Promise<Drawings> {
  const dataDir = path.join(ROOT, 'dist', 'assets', 'data', 'quickdraw');
  const manifest = validateManifest(JSON.parse(await readFile(path.join(dataDir, 'manifest.json'), 'utf8')));
  const parts: Uint8Array[] = [];
  const labels: number[] = [];
  for (const [label, category] of categories.entries()) {
    for (const entry of shardsFor(manifest, category, from + count)) {
      const shard = decodeShard(new Uint8Array(await readFile(path.join(dataDir, entry.file))), entry.file);
      const first = Math.max(from, shard.firstIndex), end = Math.min(from + count, shard.firstIndex + shard.drawingCount);
      if (end <= first) continue;
      parts.push(shard.bitmaps.subarray((first - shard.firstIndex) * BITMAP_BYTES, (end - shard.firstIndex) * BITMAP_BYTES));
      for (let i = first; i < end; i++) labels.push(label);
    }
  }
  return { bitmaps: concatBytes(parts), labels, categories };
}

/**
 * Top-1 on `drawings` of an exported model (the pipeline's model/ folder), loaded through the app's Import code; the
 * model's classes are matched to the drawings' categories by name. One view a drawing: a config's test-time
 * augmentation is not applied (the same-learning config has none).
 */
export async function scoreExport(modelDir: string, drawings: Drawings): Promise<number> {
  const files = await Promise.all(['model.json', 'weights.bin', 'metadata.json'].map(async (name) => ({ name, bytes: new Uint8Array(await readFile(path.join(modelDir, name))).buffer })));
  if (tf.getBackend() !== 'wasm') {
    if (tf.findBackend('wasm') === null) setWasmPaths(`${path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not start its WASM backend.');
  }
  const checked = checkModelFiles(files);
  const model = await loadChecked(checked);
  const probabilities = new Float32Array(drawings.labels.length * checked.info.labels.length);
  const batch = 256;
  for (let start = 0; start < drawings.labels.length; start += batch) {
    const end = Math.min(start + batch, drawings.labels.length);
    const input = preprocess(drawings.bitmaps.subarray(start * BITMAP_BYTES, end * BITMAP_BYTES), BITMAP_SIDE_PX, checked.info.imageSize);
    const output = model.predict(input) as tf.Tensor;
    probabilities.set(await output.data() as Float32Array, start * checked.info.labels.length);
    tf.dispose([input, output]);
  }
  model.dispose();
  // The model's own label order, whatever the order the drawings were read in.
  const actual = drawings.labels.map((label) => {
    const index = checked.info.labels.indexOf(drawings.categories[label]!);
    if (index < 0) throw new Error(`${modelDir} has no class "${drawings.categories[label]}"`);
    return index;
  });
  return evaluate(probabilities, actual, checked.info.labels).top1;
}

