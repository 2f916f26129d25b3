// MobileNet v1's depthwise 3×3 convolution (NHWC, no bias, stride 1 or 2, explicit padding) as WGSL kernels:
// forward, input gradient and filter gradient, each recorded on a GpuContext. Also the filter-gradient reduce and
// the WG-sized flat indexing that conv-stem.ts shares. Runs wherever the engine's GPU device lives (the trainer worker).
import { flatIndexWgsl, grid, groups, type Binding, type GpuContext } from './gpu.ts';

/**
 * A depthwise 3×3 layer. Padding is explicit so both Keras layouts are one shape: 'same' at stride 1 (padTop =
 * padLeft = 1, out = in) and ZeroPadding2D ((0,1),(0,1)) + 'valid' at stride 2 (padTop = padLeft = 0,
 * out = floor((in − 2) / 2) + 1). Rows and columns past the input (either side) read as zero.
 */
export interface DepthwiseShape {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  stride: 1 | 2;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/** Invocations per workgroup of the elementwise-style kernels (one output element each). */
const WG = 64;
/** Filter gradient: channels per workgroup (adjacent invocations read adjacent floats of NHWC rows) … */
const TC = 16;
/** … times position lanes whose partial sums the workgroup adds in shared memory. */
const LANES = 16;
/** Positions one workgroup sums before handing a partial on; bigger batches get longer chunks, never more of them. */
const CHUNK_POSITIONS = LANES * 8;
const MAX_CHUNKS = 1024;

/** WGSL: the item index of an invocation in a `grid` of WG-sized workgroups (it may exceed the count). */
export const FLAT_INDEX = flatIndexWgsl(WG);

/**
 * How a reduction over `positions` is cut into chunks for the partial-sum pass: at least CHUNK_POSITIONS each
 * (a multiple of the lane count), and at most MAX_CHUNKS chunks so the scratch buffer stays small.
 */
export function chunking(positions: number, lanes: number, minChunk: number): { chunk: number; chunks: number } {
  const wanted = Math.max(minChunk, Math.ceil(positions / MAX_CHUNKS));
  const chunk = Math.ceil(wanted / lanes) * lanes;
  return { chunk, chunks: Math.max(1, Math.ceil(positions / chunk)) };
}

/** What the 3×3 window kernels (depthwise here, the stem in conv-stem.ts) read of a convolution's shape. */
export type WindowShape = Omit<DepthwiseShape, 'stride'> & { stride: number };

/**
 * WGSL shared by the window kernels: their uniform block (`channels` are the output's: the depthwise channels, or
 * the stem's filters); `outputAt(q)`, where output position q (over batch × outH × outW) sits, as (x, y, n); and
 * `tapPixel(pos, k)`, the input pixel (over batch × inH × inW) under tap k = ky·3 + kx of that position's window,
 * or −1 where the tap falls on padding. The kernels visit taps in k order, so their sums keep one order. It reads
 * the module's `p`, which each kernel binds after its storage buffers.
 */
export const WINDOW_PARAMS = /* wgsl */ `
struct Params { batch: u32, inH: u32, inW: u32, channels: u32, stride: u32, padTop: u32, padLeft: u32, outH: u32,
  outW: u32, chunk: u32 }
fn outputAt(q: u32) -> vec3<u32> { return vec3<u32>(q % p.outW, (q / p.outW) % p.outH, q / (p.outW * p.outH)); }
fn tapPixel(pos: vec3<u32>, k: u32) -> i32 {
  let iy = i32(pos.y * p.stride) - i32(p.padTop) + i32(k / 3u);
  let ix = i32(pos.x * p.stride) - i32(p.padLeft) + i32(k % 3u);
  if (iy < 0 || iy >= i32(p.inH) || ix < 0 || ix >= i32(p.inW)) { return -1; }
  return i32((pos.z * p.inH + u32(iy)) * p.inW + u32(ix));
}`;

/** The uniform block of WINDOW_PARAMS for `s`, with the filter gradient's chunk length. */
export function windowParams(s: WindowShape, chunk = 0): Uint32Array {
  return new Uint32Array([s.batch, s.inH, s.inW, s.channels, s.stride, s.padTop, s.padLeft, s.outH, s.outW, chunk]);
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
  let c = i % C;
  let pos = outputAt(i / C);
  var acc = 0.0;
  for (var k = 0u; k < 9u; k++) {
    let pixel = tapPixel(pos, k);
    if (pixel < 0) { continue; }
    acc += x[u32(pixel) * C + c] * w[k * C + c];
  }
  y[i] = acc;
}`;

// A gather: each input pixel sums the outputs whose window covered it, so no two invocations write one float.
const BACKWARD_INPUT = /* wgsl */ `${WINDOW_PARAMS}${FLAT_INDEX}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  let C = p.channels;
  if (i >= p.batch * p.inH * p.inW * C) { return; }
  let c = i % C;
  let pix = i / C;
  let ix = i32(pix % p.inW);
  let iy = i32((pix / p.inW) % p.inH);
  let n = pix / (p.inW * p.inH);
  let s = i32(p.stride);
  var acc = 0.0;
  for (var ky = 0; ky < 3; ky++) {
    let ty = iy + i32(p.padTop) - ky;
    if (ty < 0 || ty % s != 0 || ty / s >= i32(p.outH)) { continue; }
    for (var kx = 0; kx < 3; kx++) {
      let tx = ix + i32(p.padLeft) - kx;
      if (tx < 0 || tx % s != 0 || tx / s >= i32(p.outW)) { continue; }
      acc += dy[((n * p.outH + u32(ty / s)) * p.outW + u32(tx / s)) * C + c] * w[u32(ky * 3 + kx) * C + c];
    }
  }
  dx[i] = acc;
}`;

// Pass 1 of dW: workgroup (channel tile, chunk of output positions). Each lane sums every LANES-th position of the
// chunk into 9 registers, then the lanes add up in shared memory and one partial per (chunk, tap, channel) is
// written: partial[chunk][tap][c].
const FILTER_PARTIAL = /* wgsl */ `${WINDOW_PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> sums: array<f32, ${9 * TC * LANES}>;
@compute @workgroup_size(${TC}, ${LANES}) fn main(@builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>) {
  let C = p.channels;
  let c = wid.x * ${TC}u + lid.x;
  var acc: array<f32, 9>;
  if (c < C) {
    let start = wid.y * p.chunk;
    let end = min(start + p.chunk, p.batch * p.outH * p.outW);
    for (var q = start + lid.y; q < end; q += ${LANES}u) {
      let pos = outputAt(q);
      let g = dy[q * C + c];
      for (var k = 0u; k < 9u; k++) {
        let pixel = tapPixel(pos, k);
        if (pixel < 0) { continue; }
        acc[k] += g * x[u32(pixel) * C + c];
      }
    }
  }
  for (var k = 0u; k < 9u; k++) { sums[(k * ${LANES}u + lid.y) * ${TC}u + lid.x] = acc[k]; }
  workgroupBarrier();
  for (var span = ${LANES / 2}u; span > 0u; span >>= 1u) {
    if (lid.y < span) {
      for (var k = 0u; k < 9u; k++) {
        let at = (k * ${LANES}u + lid.y) * ${TC}u + lid.x;
        sums[at] += sums[at + span * ${TC}u];
      }
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < C) {
    for (var k = 0u; k < 9u; k++) { partial[(wid.y * 9u + k) * C + c] = sums[k * ${LANES * TC}u + lid.x]; }
  }
}`;

// Pass 2 of a filter gradient: out[j] = Σ_chunk partial[chunk][j], summed in chunk order so results are repeatable.
const REDUCE_CHUNKS = /* wgsl */ `
struct Params { length: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= p.length) { return; }
  var acc = 0.0;
  for (var g = 0u; g < p.chunks; g++) { acc += partial[g * p.length + id.x]; }
  out[id.x] = acc;
}`;

/** Records out[j] = Σ over `chunks` rows of partial[chunk][j], j < length (one dispatch). */
export function reduceChunks(gpu: GpuContext, partial: Binding, out: Binding, length: number, chunks: number): void {
  gpu.dispatch(REDUCE_CHUNKS, [partial, out], [groups(length, WG)], new Uint32Array([length, chunks]));
}

/** y[n, oy, ox, c] = Σ x[n, oy·s + ky − padTop, ox·s + kx − padLeft, c] · w[ky, kx, c]. One dispatch. */
export function depthwiseForward(gpu: GpuContext, b: { x: Binding; w: Binding; y: Binding }, s: DepthwiseShape): void {
  gpu.dispatch(FORWARD, [b.x, b.w, b.y], grid(s.batch * s.outH * s.outW * s.channels, WG), windowParams(s));
}

/** dX from dY (writes every element of dx, zeros where no window reached). One dispatch. */
export function depthwiseBackwardInput(gpu: GpuContext, b: { dy: Binding; w: Binding; dx: Binding }, s: DepthwiseShape): void {
  gpu.dispatch(BACKWARD_INPUT, [b.dy, b.w, b.dx], grid(s.batch * s.inH * s.inW * s.channels, WG), windowParams(s));
}

/** Floats of the scratch buffer `depthwiseBackwardFilter` needs for `shape` (its partial sums). */
export function depthwiseFilterScratchLength(s: DepthwiseShape): number {
  return chunking(s.batch * s.outH * s.outW, LANES, CHUNK_POSITIONS).chunks * 9 * s.channels;
}

/**
 * dW[ky, kx, c] = Σ_{n, oy, ox} dY · X (written, not accumulated), through `scratch` (at least
 * `depthwiseFilterScratchLength` floats, overwritten). Two dispatches: per-chunk partial sums, then their sum.
 */
export function depthwiseBackwardFilter(
  gpu: GpuContext, b: { x: Binding; dy: Binding; dw: Binding; scratch: Binding }, s: DepthwiseShape,
): void {
  const { chunk, chunks } = chunking(s.batch * s.outH * s.outW, LANES, CHUNK_POSITIONS);
  gpu.dispatch(FILTER_PARTIAL, [b.x, b.dy, b.scratch], [Math.ceil(s.channels / TC), chunks], windowParams(s, chunk));
  reduceChunks(gpu, b.scratch, b.dw, 9 * s.channels, chunks);
}
