// Preprocessing on the device: a batch of square uint8 bitmaps (white on black, as stored) becomes MobileNet's
// input, resized bilinearly with aligned corners, scaled to [-1, 1] and repeated to 3 channels — what
// mobilenet.ts `preprocess` does with tfjs, in one dispatch, so a training step uploads 784 bytes a drawing instead
// of reading a float tensor back from tfjs. Any thread with WebGPU.
import { flatIndexWgsl, grid, type Binding, type GpuContext } from './gpu.ts';

const WG = 64;

// The arithmetic of tfjs-backend-cpu's ResizeBilinear (alignCorners, no half-pixel centres): the source position
// is ratio·r with ratio = (in − 1)/(out − 1), floor and ceil clamped, then top/bottom lerps; then v/127.5 − 1.
const PREPROCESS = /* wgsl */ `
struct Params { count: u32, inSize: u32, outSize: u32, ratio: f32 }
@group(0) @binding(0) var<storage, read> bitmaps: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${flatIndexWgsl(WG)}
fn pixel(n: u32, y: u32, x: u32) -> f32 {
  let k = (n * p.inSize + y) * p.inSize + x;
  return f32((bitmaps[k / 4u] >> ((k % 4u) * 8u)) & 255u);
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

/** Records the preprocessing of `count` bitmaps (packed bytes in `bitmaps`) into `out` (count × size × size × 3). */
export function preprocessBitmaps(gpu: GpuContext, b: { bitmaps: Binding; out: Binding }, shape: { count: number; imageSizePx: number; inputSizePx: number }): void {
  const { count, imageSizePx, inputSizePx } = shape;
  const params = new Uint32Array(4);
  params.set([count, imageSizePx, inputSizePx]);
  // tfjs's CPU backend interpolates in double and stores f32; this f32 arithmetic stays within 1e-5 of it (tested).
  new Float32Array(params.buffer, 12, 1)[0] = inputSizePx > 1 ? (imageSizePx - 1) / (inputSizePx - 1) : 0;
  gpu.dispatch(PREPROCESS, [b.bitmaps, b.out], grid(count * inputSizePx * inputSizePx, WG), params);
}
