// Shared by the engine's browser tests: a GpuContext that fails the test with a plain message where this Chromium
// has no WebGPU, and (from tests/engine-reference.ts, shared with the WebAssembly tests) seeded data and the
// relative error the kernels are held to.
import { expect } from 'vitest';
import { GpuContext } from '../../../src/core/engine/gpu.ts';

export async function createGpu(): Promise<GpuContext> {
  const gpu = await GpuContext.create();
  expect(gpu, 'this Chromium exposes WebGPU (SwiftShader)').not.toBeNull();
  return gpu!; // Checked just above; expect does not narrow.
}

/** Runs `epoch` once (compiling pipelines, filling caches), then three more times, which must allocate nothing on the GPU. */
export async function expectNoAllocationsAfterFirst(gpu: GpuContext, epoch: () => Promise<void>): Promise<void> {
  await epoch();
  const allocations = gpu.allocations;
  for (let e = 0; e < 3; e++) await epoch();
  expect(gpu.allocations - allocations).toBe(0);
}

export { relativeError, sketches, TOLERANCE, uniform } from '../../engine-reference.ts';
