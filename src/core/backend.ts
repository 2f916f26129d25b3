// Picks the tfjs backend for training by probing WebGPU → WebGL → CPU, and says why it picked it: the page
// shows the reason. Runs in the trainer worker (and in Node tests, where only 'cpu' exists).
import * as tf from '@tensorflow/tfjs';
import { messageOf } from './errors.ts';
import type { BackendChoice, BackendName } from './run-protocol.ts';

export type BackendPreference = 'auto' | BackendName;

// WASM (with the gradient kernels of wasm-training.ts) trains convolutions several times faster than the
// plain CPU backend, so it is the CPU fallback; 'cpu' stays for environments without WebAssembly.
const ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Tries the preferred backend, then the ones after it in ORDER; never returns without a working backend. */
export async function chooseBackend(preference: BackendPreference, skip: readonly BackendName[] = []): Promise<BackendChoice> {
  const start = preference === 'auto' ? 0 : ORDER.indexOf(preference);
  const candidates = ORDER.slice(start).filter((name) => !skip.includes(name));
  const notes: string[] = skip.map((name) => `${name} failed during training`);
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
