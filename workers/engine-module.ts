// The training engine's WebAssembly kernels as this site serves them (Vite hashes and copies the .wasm that
// scripts/build-wasm.sh builds), fetched and compiled once per worker; a failed load is tried again on the next
// call. Imported by the trainer worker (runs on tfjs's WASM or CPU backend) and the inference worker (guesses
// without a GPU).
import engineWasmUrl from '../src/core/engine/wasm/generated/engine.wasm?url';

let engineModule: Promise<WebAssembly.Module> | null = null;

export function compileEngine(): Promise<WebAssembly.Module> {
  engineModule ??= fetch(engineWasmUrl).then(async (response) => {
    if (!response.ok) throw new Error(`The engine's WebAssembly (${engineWasmUrl}) did not load: HTTP ${response.status}.`);
    return WebAssembly.compile(await response.arrayBuffer());
  });
  engineModule.catch(() => { engineModule = null; });
  return engineModule;
}
