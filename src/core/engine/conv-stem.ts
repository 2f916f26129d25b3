// MobileNet v1's stem (conv1): a standard 3×3 convolution of the RGB image, NHWC, no bias, as WGSL kernels:
// forward and filter gradient (the input is the image, so its gradient is never needed), recorded on a
// GpuContext. Runs wherever the engine's GPU device lives (the trainer worker).
import { chunking, FLAT_INDEX, reduceChunks, WINDOW_PARAMS, windowParams } from './conv.ts';
import { grid, type Binding, type GpuContext } from './gpu.ts';

/** Input channels: the image's RGB, a constant so the filter gradient's 27 taps stay in registers. */
export const STEM_IN_CHANNELS = 3;
const TAPS = 9 * STEM_IN_CHANNELS;

/**
 * conv1 with kernel [3, 3, 3, outChannels]. Keras builds it as ZeroPadding2D ((0,1),(0,1)) + 'valid' at stride 2:
 * padTop = padLeft = 0, out = floor((in − 2) / 2) + 1 (16 for 32 and 33 px). Rows and columns past the input read
 * as zero.
 */
export interface StemShape {
  batch: number;
  inH: number;
  inW: number;
  outChannels: number;
  stride: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

const WG = 64;
/** Filter gradient: output channels per workgroup (8 is α = 0.25's whole layer) … */
const TC = 8;
/** … times position lanes; 27 taps × 64 invocations of shared memory (6.9 KB) fit WebGPU's 16 KB minimum. */
const LANES = 8;
const CHUNK_POSITIONS = LANES * 16;

/** The window kernels' uniform block (conv.ts), whose `channels` are the stem's output channels. */
function params(s: StemShape, chunk = 0): Uint32Array {
  return windowParams({ ...s, channels: s.outChannels }, chunk);
}

const FORWARD = /* wgsl */ `${WINDOW_PARAMS}${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  let C = p.channels;
  if (i >= p.batch * p.outH * p.outW * C) { return; }
  let co = i % C;
  let pos = outputAt(i / C);
  var acc = 0.0;
  for (var k = 0u; k < 9u; k++) {
    let pixel = tapPixel(pos, k);
    if (pixel < 0) { continue; }
    let at = u32(pixel) * ${STEM_IN_CHANNELS}u;
    for (var ci = 0u; ci < ${STEM_IN_CHANNELS}u; ci++) {
      acc += x[at + ci] * w[(k * ${STEM_IN_CHANNELS}u + ci) * C + co];
    }
  }
  y[i] = acc;
}`;

// Pass 1 of dW: workgroup (output-channel tile, chunk of output positions); each lane sums every LANES-th position
// into 27 registers (tap = (ky·3 + kx)·3 + ci, the kernel's own order), the lanes add up in shared memory, and
// partial[chunk][tap][co] is written.
const FILTER_PARTIAL = /* wgsl */ `${WINDOW_PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> sums: array<f32, ${TAPS * TC * LANES}>;
@compute @workgroup_size(${TC}, ${LANES}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = p.channels;
  let co = wid.x * ${TC}u + lid.x;
  var acc: array<f32, ${TAPS}>;
  if (co < C) {
    let start = wid.y * p.chunk;
    let end = min(start + p.chunk, p.batch * p.outH * p.outW);
    for (var q = start + lid.y; q < end; q += ${LANES}u) {
      let pos = outputAt(q);
      let g = dy[q * C + co];
      for (var k = 0u; k < 9u; k++) {
        let pixel = tapPixel(pos, k);
        if (pixel < 0) { continue; }
        let at = u32(pixel) * ${STEM_IN_CHANNELS}u;
        for (var ci = 0u; ci < ${STEM_IN_CHANNELS}u; ci++) { acc[k * ${STEM_IN_CHANNELS}u + ci] += g * x[at + ci]; }
      }
    }
  }
  for (var k = 0u; k < ${TAPS}u; k++) { sums[(k * ${LANES}u + lid.y) * ${TC}u + lid.x] = acc[k]; }
  workgroupBarrier();
  for (var span = ${LANES / 2}u; span > 0u; span >>= 1u) {
    if (lid.y < span) {
      for (var k = 0u; k < ${TAPS}u; k++) {
        let at = (k * ${LANES}u + lid.y) * ${TC}u + lid.x;
        sums[at] += sums[at + span * ${TC}u];
      }
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && co < C) {
    for (var k = 0u; k < ${TAPS}u; k++) { partial[(wid.y * ${TAPS}u + k) * C + co] = sums[k * ${LANES * TC}u + lid.x]; }
  }
}`;

/** y = conv(x, w) for the stem; x is [batch, inH, inW, 3], w [3, 3, 3, outChannels]. One dispatch. */
export function stemForward(gpu: GpuContext, b: { x: Binding; w: Binding; y: Binding }, s: StemShape): void {
  gpu.dispatch(FORWARD, [b.x, b.w, b.y], grid(s.batch * s.outH * s.outW * s.outChannels, WG), params(s));
}

/** Floats of the scratch buffer `stemBackwardFilter` needs for `shape` (its partial sums). */
export function stemFilterScratchLength(s: StemShape): number {
  return chunking(s.batch * s.outH * s.outW, LANES, CHUNK_POSITIONS).chunks * TAPS * s.outChannels;
}

/**
 * dW[ky, kx, ci, co] = Σ_{n, oy, ox} dY[n, oy, ox, co] · X[n, oy·s + ky − padTop, ox·s + kx − padLeft, ci]
 * (written, not accumulated), through `scratch` (at least `stemFilterScratchLength` floats, overwritten).
 * Two dispatches: per-chunk partial sums, then their sum.
 */
export function stemBackwardFilter(
  gpu: GpuContext, b: { x: Binding; dy: Binding; dw: Binding; scratch: Binding }, s: StemShape,
): void {
  const { chunk, chunks } = chunking(s.batch * s.outH * s.outW, LANES, CHUNK_POSITIONS);
  gpu.dispatch(FILTER_PARTIAL, [b.x, b.dy, b.scratch], [Math.ceil(s.outChannels / TC), chunks], params(s, chunk));
  reduceChunks(gpu, b.scratch, b.dw, TAPS * s.outChannels, chunks);
}
