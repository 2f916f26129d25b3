// Loads the served MobileNet (public/assets, put there by `npm run assets`) from disk for Node tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export const MOBILENET_DIR = path.resolve(import.meta.dirname, '..', '..', 'public', 'assets', 'models', 'mobilenet_v1_0.25_224');

/** An IOHandler reading a tfjs LayersModel (model.json + weight files) from a folder. */
export function folderHandler(dir: string = MOBILENET_DIR): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const groups = json.weightsManifest ?? [];
      const buffers = await Promise.all(groups.flatMap((g) => g.paths).map((p) => readFile(path.join(dir, p))));
      const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
      return { modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData };
    },
  };
}
