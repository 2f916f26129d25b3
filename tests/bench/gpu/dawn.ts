// What the kit's scripts share on a lent GPU machine (no browser there): navigator.gpu from Dawn, the WebGPU
// implementation inside Chrome, as the `webgpu` package's Node addon that the kit carries (WEBGPU_PKG, set by
// ../shared/gpu/device-run.sh), tfjs's WebGPU backend on it, and weights read from the kit's folders.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as tfjs from '@tensorflow/tfjs';

/**
 * Installs Dawn's navigator.gpu, then loads tfjs with its WebGPU backend and makes it current. Throws when tfjs would
 * fall back to another backend (it does so silently). Returns tfjs and the adapter's description.
 */
export async function startDawn(): Promise<{ tf: typeof tfjs; adapter: string | null }> {
  const webgpu = await import(pathToFileURL(path.join(process.env['WEBGPU_PKG'] ?? '', 'index.js')).href) as { create(flags: string[]): GPU; globals: object };
  Object.assign(globalThis, webgpu.globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: webgpu.create([]) }, configurable: true });
  // Bundled with code splitting, tfjs (CommonJS under Node) may come back as the namespace's default export.
  const imported = await import('@tensorflow/tfjs') as typeof tfjs & { default?: typeof tfjs };
  const tf = imported.default ?? imported;
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  if (tf.getBackend() !== 'webgpu') throw new Error(`tfjs fell back to ${tf.getBackend()}: no WebGPU through Dawn here.`);
  const info = (await navigator.gpu.requestAdapter())?.info;
  return { tf, adapter: info === undefined ? null : `${info.vendor} ${info.architecture} ${info.description}`.trim() };
}

/** The kit's copy of a LayersModel: model.json and its weight files in `dir`. */
export function folderHandler(dir: string): tfjs.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as tfjs.io.ModelJSON;
      const groups = json.weightsManifest ?? [];
      const buffers = await Promise.all(groups.flatMap((g) => g.paths).map((p) => readFile(path.join(dir, p))));
      return { modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData: new Uint8Array(Buffer.concat(buffers)).buffer };
    },
  };
}
