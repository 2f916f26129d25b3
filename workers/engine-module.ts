// The training engine's WebAssembly kernels as this site serves them (Vite hashes and copies the .wasm files that
// scripts/build-wasm.sh builds), fetched and compiled once per worker; a failed load is tried again on the next
// call. Imported by the trainer worker (runs on tfjs's WASM or CPU backend: `cpuEngine`, with threads where the
// page is cross-origin isolated) and the inference worker (guesses without a GPU: `compileEngine`, one thread).
import engineThreadsWasmUrl from '../src/core/engine/wasm/generated/engine-threads.wasm?url';
import engineWasmUrl from '../src/core/engine/wasm/generated/engine.wasm?url';
import type { CpuEngine, ThreadedModule } from '../src/core/engine/wasm/threads.ts';

/** Threads a run uses at most: past 8, a MobileNet step at 48 px has too little work a call to share. */
const MAX_THREADS = 8;

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function compile(url: string): Promise<WebAssembly.Module> {
  let module = compiled.get(url);
  if (module === undefined) {
    module = fetch(url).then(async (response) => {
      if (!response.ok) throw new Error(`The engine's WebAssembly (${url}) did not load: HTTP ${response.status}.`);
      return WebAssembly.compile(await response.arrayBuffer());
    });
    module.catch(() => compiled.delete(url));
    compiled.set(url, module);
  }
  return module;
}

export function compileEngine(): Promise<WebAssembly.Module> {
  return compile(engineWasmUrl);
}

/** Why this page cannot run WebAssembly threads, or null when it can. */
export function threadsUnavailable(): string | null {
  if (!globalThis.crossOriginIsolated) return 'the page is not cross-origin isolated (it was served without the COOP/COEP headers, and no service worker added them yet), so SharedArrayBuffer is off';
  if (typeof SharedArrayBuffer === 'undefined') return 'this browser has no SharedArrayBuffer';
  if ((navigator.hardwareConcurrency ?? 1) < 2) return 'this device reports one core';
  return null;
}

/** The engine's CPU path: the one-thread build, and the threads build with one thread a core where it can run. */
export async function cpuEngine(): Promise<CpuEngine> {
  const module = await compileEngine();
  const unavailable = threadsUnavailable();
  if (unavailable !== null) return { module, oneThreadReason: unavailable };
  const threaded: ThreadedModule = {
    module: await compile(engineThreadsWasmUrl),
    threads: Math.min(MAX_THREADS, navigator.hardwareConcurrency),
    start: (init, failed) => {
      const worker = new Worker(new URL('./engine-thread.worker.ts', import.meta.url), { type: 'module', name: `engine thread ${init.index}` });
      worker.addEventListener('error', (event) => failed(event.message || 'the worker script did not load'));
      worker.postMessage(init);
      return { terminate: () => worker.terminate() };
    },
  };
  return { module, threaded };
}
