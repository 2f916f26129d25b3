// A helper thread of the engine's CPU path in Node (worker_threads): serves kernel slices for a KernelPool.
import { workerData } from 'node:worker_threads';
import { serveKernels, type HelperInit } from '../../../../../src/core/engine/wasm/threads.ts';

void serveKernels(workerData as HelperInit);
