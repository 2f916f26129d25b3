// Shared by the WASM engine's Node tests: the engine's module from where scripts/build-wasm.sh writes it, the
// real MobileNet split as the app trains it, and (from tests/engine-reference.ts, shared with the WebGPU engine's
// browser tests) sketch-like bitmaps, the relative error and tfjs's reference gradients.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadBackbone, splitBackbone, type SplitModel } from '../../../../../src/core/training/mobilenet.ts';
import { folderHandler } from '../../../model-fixtures.ts';

export const ENGINE_WASM = path.resolve(import.meta.dirname, '..', '..', '..', '..', '..', 'src', 'core', 'engine', 'wasm', 'generated', 'engine.wasm');

/** The built module's bytes; a missing build fails with what to run. */
export async function engineWasm(): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(ENGINE_WASM));
  } catch {
    throw new Error(`${ENGINE_WASM} is missing: run \`npm run assets\` (or \`bash scripts/build-wasm.sh\`; it needs \`apt-get install -y clang-19 lld-19\`).`);
  }
}

/** The whole network (all 13 blocks trainable) with a fresh head, as the Trainer builds it. */
export async function wholeModel(inputSizePx: number, classes: number): Promise<SplitModel> {
  return splitBackbone(await loadBackbone(folderHandler(), inputSizePx), 13, { numClasses: classes, dropoutRate: 0, seed: 1 });
}

export { expectWeightsAfterStep, relativeError, sketches, tfjsGradients, TOLERANCE, uniform } from '../../../../engine-reference.ts';
