// A helper thread of the engine's WebAssembly path, started by the trainer worker (engine-module.ts): it takes its
// HelperInit in one message, then serves kernel slices through the shared control block until terminated.
import { serveKernels, type HelperInit } from '../src/core/engine/wasm/threads.ts';

self.addEventListener('message', (event: MessageEvent<HelperInit>) => void serveKernels(event.data), { once: true });
