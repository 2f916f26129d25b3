// Preprocessing on the device: a batch of square uint8 bitmaps (white on black, as stored) becomes MobileNet's
// input, resized bilinearly with aligned corners, scaled to [-1, 1] and repeated to 3 channels — what
// mobilenet.ts `preprocess` does with tfjs, in one dispatch, so a training step uploads 784 bytes a drawing instead
// of reading a float tensor back from tfjs. Augmentation too: augment.ts's warp and thickening, on transforms drawn
// on the CPU from the run's random stream (8 floats a drawing go up). Any thread with WebGPU.
import type { AugmentDraw } from '../training/augment.ts';
import { flatIndexWgsl, grid, type Binding, type GpuContext } from './gpu.ts';

const WG = 64;

// The arithmetic of tfjs-backend-cpu's ResizeBilinear (alignCorners, no half-pixel centres): the source position
// is ratio·r with ratio = (in − 1)/(out − 1), floor and ceil clamped, then top/bottom lerps; then v/127.5 − 1. With
// `thicken`, augmentation's last step is read in: a drawing whose transform says so has each of its pixels blended
// halfway to the 3×3 maximum around it (augment.ts dilate), rounded as Math.round rounds.
function preprocessSource(thicken: boolean): string {
  return /* wgsl */ `
struct Params { count: u32, inSize: u32, outSize: u32, ratio: f32 }
@group(0) @binding(0) var<storage, read> bitmaps: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${thicken ? `@group(0) @binding(2) var<storage, read> draws: array<f32>;` : ''}
@group(0) @binding(${thicken ? 3 : 2}) var<uniform> p: Params;
${flatIndexWgsl(WG)}
fn stored(n: u32, y: i32, x: i32) -> f32 {
  let size = i32(p.inSize);
  if (x < 0 || y < 0 || x >= size || y >= size) { return 0.0; }
  let k = (n * p.inSize + u32(y)) * p.inSize + u32(x);
  return f32((bitmaps[k / 4u] >> ((k % 4u) * 8u)) & 255u);
}
fn pixel(n: u32, y: u32, x: u32) -> f32 {
  let own = stored(n, i32(y), i32(x));
  ${thicken ? `if (draws[n * ${DRAW_FLOATS}u + 4u] == 0.0) { return own; }
  var top = 0.0;
  for (var j = -1; j <= 1; j++) {
    for (var i = -1; i <= 1; i++) { top = max(top, stored(n, i32(y) + j, i32(x) + i)); }
  }
  return floor(own + (top - own) / 2.0 + 0.5);` : 'return own;'}
}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.count * p.outSize * p.outSize) { return; }
  let x = i % p.outSize;
  let y = (i / p.outSize) % p.outSize;
  let n = i / (p.outSize * p.outSize);
  var v: f32;
  if (p.inSize == p.outSize) {
    v = pixel(n, y, x);
  } else {
    let fy = p.ratio * f32(y);
    let fx = p.ratio * f32(x);
    let y0 = u32(floor(fy));
    let x0 = u32(floor(fx));
    let y1 = min(p.inSize - 1u, u32(ceil(fy)));
    let x1 = min(p.inSize - 1u, u32(ceil(fx)));
    let dy = fy - f32(y0);
    let dx = fx - f32(x0);
    let top = pixel(n, y0, x0) + (pixel(n, y0, x1) - pixel(n, y0, x0)) * dx;
    let bottom = pixel(n, y1, x0) + (pixel(n, y1, x1) - pixel(n, y1, x0)) * dx;
    v = top + (bottom - top) * dy;
  }
  let scaled = v / 127.5 - 1.0;
  out[i * 3u] = scaled;
  out[i * 3u + 1u] = scaled;
  out[i * 3u + 2u] = scaled;
}`;
}

/** Floats per drawing in the transforms buffer augmentation reads (see `packDraws`). */
export const DRAW_FLOATS = 8;

const PREPROCESS = preprocessSource(false);
const PREPROCESS_THICKENING = preprocessSource(true);

/** u32 words holding `count` bitmaps of `imageSizePx`² bytes (the upload is padded to whole words). */
export function bitmapWords(count: number, imageSizePx: number): number {
  return Math.ceil((count * imageSizePx * imageSizePx) / 4);
}

/** `bitmaps` as whole u32 words for the upload (copied only when their length or offset is not word-aligned). */
export function packBitmaps(bitmaps: Uint8Array): Uint32Array {
  if (bitmaps.byteOffset % 4 === 0 && bitmaps.byteLength % 4 === 0) return new Uint32Array(bitmaps.buffer, bitmaps.byteOffset, bitmaps.byteLength / 4);
  const padded = new Uint8Array(Math.ceil(bitmaps.byteLength / 4) * 4);
  padded.set(bitmaps);
  return new Uint32Array(padded.buffer);
}

/**
 * Records the preprocessing of `count` bitmaps (packed bytes in `bitmaps`) into `out` (count × size × size × 3);
 * with `draws`, after augmentBitmapsOnDevice, the drawings they mark are thickened first. 1 dispatch.
 */
export function preprocessBitmaps(gpu: GpuContext, b: { bitmaps: Binding; out: Binding; draws?: Binding }, shape: { count: number; imageSizePx: number; inputSizePx: number }): void {
  const { count, imageSizePx, inputSizePx } = shape;
  const params = new Uint32Array(4);
  params.set([count, imageSizePx, inputSizePx]);
  // tfjs's CPU backend interpolates in double and stores f32; this f32 arithmetic stays within 1e-5 of it (tested).
  new Float32Array(params.buffer, 12, 1)[0] = inputSizePx > 1 ? (imageSizePx - 1) / (inputSizePx - 1) : 0;
  const workgroups = grid(count * inputSizePx * inputSizePx, WG);
  if (b.draws === undefined) gpu.dispatch(PREPROCESS, [b.bitmaps, b.out], workgroups, params);
  else gpu.dispatch(PREPROCESS_THICKENING, [b.bitmaps, b.out, b.draws], workgroups, params);
}


/** Each drawing's transform as the kernels read it: cos, sin, dx, dy, thicken (1 or 0), mirror (−1 or 1), padding. */
export function packDraws<T extends Float32Array>(draws: readonly AugmentDraw[], out: T): T {
  draws.forEach((d, n) => out.set([d.cos, d.sin, d.dx, d.dy, d.thicken ? 1 : 0, d.flip ? -1 : 1], n * DRAW_FLOATS));
  return out;
}

// One invocation per u32 word of the output (4 pixels, which may belong to two drawings when size² is not a multiple
// of 4): augment.ts's warp, each output pixel inverse-mapped through its drawing's affine transform about the
// centre and sampled bilinearly. Math.round of augment.ts is floor(x + 0.5) for these non-negative values (WGSL's
// round() rounds half to even). (`source` and `target` are reserved words in WGSL.)
const WARP = /* wgsl */ `
struct Params { count: u32, size: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> draws: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${flatIndexWgsl(WG)}
fn at(n: u32, x: i32, y: i32) -> f32 {
  let size = i32(p.size);
  if (x < 0 || y < 0 || x >= size || y >= size) { return 0.0; }
  let k = n * p.size * p.size + u32(y) * p.size + u32(x);
  return f32((src[k / 4u] >> ((k % 4u) * 8u)) & 255u);
}
fn warped(n: u32, x: u32, y: u32) -> u32 {
  let d = n * ${DRAW_FLOATS}u;
  let centre = f32(p.size - 1u) / 2.0;
  let u = draws[d + 5u] * (f32(x) - centre) - draws[d + 2u];
  let v = f32(y) - centre - draws[d + 3u];
  let sx = draws[d] * u + draws[d + 1u] * v + centre;
  let sy = -draws[d + 1u] * u + draws[d] * v + centre;
  let x0 = i32(floor(sx));
  let y0 = i32(floor(sy));
  let fx = sx - floor(sx);
  let fy = sy - floor(sy);
  let value = (1.0 - fx) * (1.0 - fy) * at(n, x0, y0) + fx * (1.0 - fy) * at(n, x0 + 1, y0)
    + (1.0 - fx) * fy * at(n, x0, y0 + 1) + fx * fy * at(n, x0 + 1, y0 + 1);
  return u32(clamp(floor(value + 0.5), 0.0, 255.0));
}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = flatIndex(wid, nwg, lid);
  let pixels = p.size * p.size;
  if (w * 4u >= p.count * pixels) { return; }
  var word = 0u;
  for (var b = 0u; b < 4u; b++) {
    let k = w * 4u + b;
    if (k >= p.count * pixels) { break; }
    let n = k / pixels;
    word = word | (warped(n, (k % pixels) % p.size, (k % pixels) / p.size) << (b * 8u));
  }
  dst[w] = word;
}`;

/**
 * The warp of augment.ts on `count` packed bitmaps from `bitmaps` into `out` (same layout), each drawing by its
 * transform in `draws` (packDraws); preprocessBitmaps given the same `draws` then thickens. 1 dispatch.
 */
export function augmentBitmapsOnDevice(gpu: GpuContext, b: { bitmaps: Binding; draws: Binding; out: Binding }, shape: { count: number; imageSizePx: number }): void {
  gpu.dispatch(WARP, [b.bitmaps, b.out, b.draws], grid(bitmapWords(shape.count, shape.imageSizePx), WG), Uint32Array.of(shape.count, shape.imageSizePx));
}
