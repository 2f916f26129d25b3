// Elementwise kernels over more items than one grid dimension holds (65,535 workgroups of 256 is 16.7 M floats;
// a 1,024-drawing batch at 96 px has more): the dispatch size as a 2-D grid, and the WGSL that turns it back into
// one flat index. Shared by the engine's kernel modules; any thread with WebGPU.
import { flatIndexWgsl, grid } from './gpu.ts';

/** Invocations per workgroup of the engine's flat elementwise kernels. */
export const FLAT_SIZE = 256;

/** A [x, y] grid of FLAT_SIZE-wide workgroups covering `count` items; FLAT_INDEX recovers each item's index. */
export function flatGrid(count: number): [number, number] {
  return grid(count, FLAT_SIZE);
}

/** WGSL: `fn flatIndex(...)` for an entry point declared with `@workgroup_size(FLAT_SIZE)` over `flatGrid`. */
export const FLAT_INDEX = flatIndexWgsl(FLAT_SIZE);
