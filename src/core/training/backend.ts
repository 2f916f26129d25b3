// Picks the tfjs backend for training by probing WebGPU → WebGL → WASM → CPU, and says why it picked it: the
// page shows the reason. Runs in the trainer worker (and in Node tests, where only 'cpu' exists).
import * as tf from '@tensorflow/tfjs';
import { messageOf } from '../errors.ts';
import type { BackendChoice, BackendName } from './run-protocol.ts';

export type BackendPreference = 'auto' | BackendName;

// WASM (with the gradient kernels of wasm-training.ts) trains convolutions several times faster than the
// plain CPU backend, so it is the CPU fallback; 'cpu' stays for environments without WebAssembly.
const ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * Tries the preferred backend, then the ones after it in ORDER; never returns without a working backend.
 * 'auto' moves a GPU backend that runs in software (SwiftShader, llvmpipe: what a machine without a usable GPU
 * gets) after WASM, which trains 5.6–17× faster than SwiftShader WebGL and 17–160× faster than its WebGPU on the
 * same CPU (`npm run bench:train`).
 */
export async function chooseBackend(preference: BackendPreference, skip: readonly BackendName[] = [], probe: RendererProbe = probeRenderer): Promise<BackendChoice> {
  const start = preference === 'auto' ? 0 : ORDER.indexOf(preference);
  let candidates = ORDER.slice(start).filter((name) => !skip.includes(name));
  const notes: string[] = skip.map((name) => `${name} failed during training`);
  if (preference === 'auto' && candidates.includes('wasm')) {
    const software: BackendName[] = [];
    for (const name of ['webgpu', 'webgl'] as const) {
      const renderer = candidates.includes(name) ? await probe(name) : null;
      if (renderer === null || !SOFTWARE_RENDERER.test(renderer)) continue;
      software.push(name);
      notes.push(`${label(name)} runs in software here (${renderer}), slower than WASM`);
    }
    const rest = candidates.filter((name) => !software.includes(name));
    const afterWasm = rest.indexOf('wasm') + 1;
    candidates = [...rest.slice(0, afterWasm), ...software, ...rest.slice(afterWasm)];
  }
  for (const name of candidates) {
    const problem = await tryBackend(name);
    if (problem === null) {
      const why = notes.length === 0 ? (preference === 'auto' ? 'the fastest backend this browser offers' : 'as asked') : notes.join('; ');
      return { name, reason: `${label(name)}: ${why}` };
    }
    notes.push(`${label(name)} unavailable (${problem})`);
  }
  throw new Error(`No tfjs backend could start: ${notes.join('; ')}`);
}

/** Whether this browser's WebGPU runs on a real GPU (not SwiftShader or another software adapter). */
export async function hardwareWebGpu(probe: RendererProbe = probeRenderer): Promise<boolean> {
  const renderer = await probe('webgpu');
  return renderer !== null && !SOFTWARE_RENDERER.test(renderer);
}

/** A GPU backend's renderer or adapter, as the browser names it; null where there is none to ask. */
export type RendererProbe = (name: 'webgpu' | 'webgl') => Promise<string | null>;

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

async function probeRenderer(name: 'webgpu' | 'webgl'): Promise<string | null> {
  try {
    if (name === 'webgpu') {
      if (typeof navigator === 'undefined' || !('gpu' in navigator)) return null;
      const gpu = (navigator as unknown as { gpu: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
      const info = (await gpu.requestAdapter())?.info;
      if (info === undefined) return null;
      const named = [info.vendor, info.architecture, info.description].filter((part) => part !== undefined && part !== '').join(' ');
      return info.isFallbackAdapter === true ? `fallback adapter ${named}`.trim() : named === '' ? null : named;
    }
    if (typeof OffscreenCanvas === 'undefined') return null;
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    if (gl === null) return null;
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl.getParameter(debug === null ? gl.RENDERER : debug.UNMASKED_RENDERER_WEBGL) as unknown;
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return typeof renderer === 'string' ? renderer : null;
  } catch {
    return null;
  }
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

async function tryBackend(name: BackendName): Promise<string | null> {
  if (name === 'webgpu' && !(typeof navigator !== 'undefined' && 'gpu' in navigator)) return 'no navigator.gpu in this browser';
  if (tf.findBackendFactory(name) === null) return 'not registered';
  try {
    if (!(await tf.setBackend(name))) return 'it failed to initialise';
    await tf.ready();
    // A tiny op proves the device actually runs kernels (a WebGPU adapter can exist and still fail here).
    const probe = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)));
    const value = (await probe.data())[0];
    probe.dispose();
    return value === 2 ? null : 'it computed 1 + 1 wrongly';
  } catch (error) {
    return messageOf(error);
  }
}

function label(name: BackendName): string {
  return name === 'webgpu' ? 'WebGPU' : name === 'webgl' ? 'WebGL' : name === 'wasm' ? 'WASM (CPU)' : 'CPU';
}
