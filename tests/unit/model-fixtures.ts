// Loads the served MobileNet (public/assets, put there by `npm run assets`), and the Teachable Machine export in
// ../shared, from disk for Node tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TM_FOLDER, type TeachableMachineFiles } from '../../datasets/teachable-machine.ts';

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

/** Where ../shared keeps the Teachable Machine export (absent where a checkout has no ../shared beside it). */
export const TM_DIR = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', TM_FOLDER);

/** The Teachable Machine export's model.json and weights.bin. */
export async function teachableFiles(): Promise<TeachableMachineFiles> {
  return {
    model: JSON.parse(await readFile(path.join(TM_DIR, 'model.json'), 'utf8')) as tf.io.ModelJSON,
    weights: new Uint8Array(await readFile(path.join(TM_DIR, 'weights.bin'))).buffer,
  };
}
