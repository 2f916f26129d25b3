// Shared by the engine's browser tests: seeded data (random floats, sketch-like bitmaps), the relative error the
// kernels are held to, and a GpuContext that fails the test with a plain message where this Chromium has no WebGPU.
import { expect } from 'vitest';
import { GpuContext } from '../../../src/core/engine/gpu.ts';
import { Random } from '../../../src/core/random.ts';

export async function createGpu(): Promise<GpuContext> {
  const gpu = await GpuContext.create();
  expect(gpu, 'this Chromium exposes WebGPU (SwiftShader)').not.toBeNull();
  return gpu!; // Checked just above; expect does not narrow.
}

/** `length` floats uniform in [offset − magnitude, offset + magnitude]. */
export function uniform(random: Random, length: number, magnitude = 1, offset = 0): Float32Array {
  return Float32Array.from({ length }, () => offset + random.symmetric(magnitude));
}

/** max|actual − expected| / max(max|expected|, 1e-6), the engine's yardstick against tfjs. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

export const TOLERANCE = 1e-4;

/** Sketch-like bitmaps: a few random strokes of 255 on 0. */
export function sketches(count: number, random: Random): Uint8Array {
  const bitmaps = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let s = 0; s < 4; s++) {
      let x = Math.floor(random.next() * 28), y = Math.floor(random.next() * 28);
      for (let t = 0; t < 12; t++) {
        bitmaps[n * 784 + y * 28 + x] = 255;
        x = Math.min(27, Math.max(0, x + Math.round(random.symmetric(1.5))));
        y = Math.min(27, Math.max(0, y + Math.round(random.symmetric(1.5))));
      }
    }
  }
  return bitmaps;
}
