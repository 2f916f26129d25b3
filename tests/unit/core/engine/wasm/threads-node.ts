// The engine's threads build in Node, for the tests and benchmarks: helper threads are worker_threads running
// thread-entry.ts (through thread-entry.mjs, which registers tsx), on the module scripts/build-wasm.sh writes
// beside engine.wasm.
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { ThreadedModule } from '../../../../../src/core/engine/wasm/threads.ts';
import { ENGINE_WASM } from './reference.ts';

export const ENGINE_THREADS_WASM = ENGINE_WASM.replace(/engine\.wasm$/, 'engine-threads.wasm');

/** The threads build with `threads` threads (the caller's included), helpers started as worker_threads. */
export async function nodeThreads(threads: number): Promise<ThreadedModule> {
  const module = await WebAssembly.compile(await readFile(ENGINE_THREADS_WASM));
  return {
    module,
    threads,
    start: (init, failed) => {
      const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: init });
      worker.on('error', (error) => failed(error.message));
      worker.unref();
      return { terminate: () => void worker.terminate() };
    },
  };
}
