// Registers tfjs's WASM backend with its binaries served from this site (Vite hashes and copies them), plus
// the gradient kernels it lacks, so the trainer can fine-tune convolutions on CPUs. Imported by workers.
//
// tfjs's own threaded build stays off: on a cross-origin isolated page it would pick it, and its pthread workers
// (Emscripten's, from a blob) fail in this bundle ("e is not defined"), leaving every run at "starting". The
// training engine runs the threads (src/core/engine/wasm/threads.ts); tfjs's WASM backend stays the one-thread
// reference and fallback.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import plainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import { registerWasmTrainingKernels } from '../src/core/training/wasm-training.ts';

tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
// setWasmPaths wants an entry for each of the three binaries; the threaded one is never fetched (the flag above), so
// it points at the SIMD file instead of shipping (and precaching) 436 kB nobody loads.
setWasmPaths({ 'tfjs-backend-wasm.wasm': plainUrl, 'tfjs-backend-wasm-simd.wasm': simdUrl, 'tfjs-backend-wasm-threaded-simd.wasm': simdUrl });
registerWasmTrainingKernels();
