// Matrix products of the training engine: pointwise (1×1) convolutions over NHWC activations ([N·H·W, cin] rows)
// and the dense head, forward and backward, as tiled WGSL kernels recorded on a GpuContext. Runs on whichever
// thread owns the GpuContext (the trainer worker, browser tests); records dispatches only, never reads back.
import { type Binding, type GpuContext, groups } from './gpu.ts';

/**
 * out[m, n] = op(a)[m, k] · op(b)[k, n], where op transposes what is stored: `transposeA` means `a` is stored
 * [k, m], `transposeB` means `b` is stored [n, k]. One general kernel, specialised at compile time per flag pair,
 * serves all three products of a layer (Y = X·W, dX = dY·Wᵀ, dW = Xᵀ·dY): the flags only change how a tile is
 * fetched into workgroup memory (each variant reads global memory along its contiguous axis), so no variant
 * pays for the generality in its inner loop.
 */
export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface MatmulBuffers {
  a: Binding;
  b: Binding;
  out: Binding;
  /** Added to every row of `out` ([n] floats). */
  bias?: Binding;
  /** Partial sums when the reduction is split; at least `matmulScratchLength(shape)` floats. */
  scratch?: Binding;
}

/** Output tile edge; each of the 8×8 invocations of a workgroup owns a 4×4 block of it in registers (BLOCK is
 * a vec4's width: the kernel holds a row of the block in one). */
const TILE = 32;
const BLOCK = 4;
const THREADS = (TILE / BLOCK) ** 2;
/** Reduction steps staged in workgroup memory at a time (two 16×32 tiles: 4 KiB). */
const TK = 16;
/**
 * Splitting a reduction. dW = Xᵀ·dY reduces over M = N·H·W rows (4,608 for the first block of a batch of 8 at
 * 48 px, millions on a GPU batch) while its output K×N can be a single tile (8×16): one workgroup would walk all
 * of M alone. So when the output has fewer tiles than the GPU wants workgroups, the reduction is cut into chunks
 * of at least MIN_CHUNK rows, one workgroup layer each (grid z), writing partial sums to scratch; a second small
 * dispatch adds the partials (and the bias). We chose this over atomics because WGSL has no float atomics (a
 * compare-exchange loop would serialise on the few outputs and make results depend on scheduling) and over a
 * tree reduction inside one workgroup because that caps the parallelism at one workgroup per tile. The sum is
 * deterministic: each partial, and their total, is always added in the same order.
 */
const TARGET_WORKGROUPS = 512;
const MIN_CHUNK = 256;
const MAX_SPLITS = 128;

interface Split {
  splits: number;
  chunk: number;
}

function splitReduction(length: number, outputGroups: number): Split {
  const wanted = Math.min(Math.ceil(length / MIN_CHUNK), Math.ceil(TARGET_WORKGROUPS / outputGroups), MAX_SPLITS);
  const splits = Math.max(1, wanted);
  // Chunks are whole multiples of TK so only the last chunk has a ragged end.
  const chunk = Math.ceil(Math.ceil(length / splits) / TK) * TK;
  return { splits: Math.ceil(length / chunk) || 1, chunk: Math.max(chunk, TK) };
}

function matmulTiles(shape: MatmulShape): number {
  return Math.ceil(shape.m / TILE) * Math.ceil(shape.n / TILE);
}

/** Floats of scratch `matmul` needs for `shape` (0 when it runs as one dispatch). */
export function matmulScratchLength(shape: MatmulShape): number {
  const { splits } = splitReduction(shape.k, matmulTiles(shape));
  return splits > 1 ? splits * shape.m * shape.n : 0;
}

/** Records `out = op(a)·op(b) (+ bias)`: 1 dispatch, or 2 when the reduction is split (see MIN_CHUNK). */
export function matmul(gpu: GpuContext, buffers: MatmulBuffers, shape: MatmulShape): void {
  const { m, k, n } = shape;
  const tiles = matmulTiles(shape);
  const { splits, chunk } = splitReduction(k, tiles);
  const maxX = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  // Millions of rows make more tiles than one grid dimension holds; the kernel unfolds x + y·width.
  const grid: [number, number, number] = [Math.min(tiles, maxX), Math.ceil(tiles / maxX), splits];
  const params = new Uint32Array([m, k, n, chunk]);
  const transposeA = shape.transposeA ?? false;
  const transposeB = shape.transposeB ?? false;
  if (splits === 1) {
    const bias = buffers.bias;
    const bindings: Binding[] = bias === undefined ? [buffers.a, buffers.b, buffers.out] : [buffers.a, buffers.b, buffers.out, bias];
    gpu.dispatch(matmulKernel(transposeA, transposeB, bias !== undefined), bindings, grid, params);
    return;
  }
  const scratch = requireScratch(buffers.scratch, splits * m * n, 'matmul');
  gpu.dispatch(matmulKernel(transposeA, transposeB, false), [buffers.a, buffers.b, scratch], grid, params);
  sumPartials(gpu, scratch, buffers.out, buffers.bias, m * n, n, splits);
}

/**
 * Y[m, n] = X[m, k] · W[k, n] (+ bias[n]): a pointwise convolution's or a dense layer's forward pass. Needs scratch
 * when K is long and the output small (MobileNet v2's 1,280-feature head on a few drawings).
 */
export function matmulForward(gpu: GpuContext, buffers: { x: Binding; w: Binding; y: Binding; bias?: Binding; scratch?: Binding }, shape: { m: number; k: number; n: number }): void {
  matmul(gpu, { a: buffers.x, b: buffers.w, out: buffers.y, ...(buffers.bias && { bias: buffers.bias }), ...(buffers.scratch && { scratch: buffers.scratch }) }, shape);
}

/** dX[m, k] = dY[m, n] · Wᵀ, written (not accumulated); shape is the forward pass's. */
export function matmulBackwardInput(gpu: GpuContext, buffers: { dy: Binding; w: Binding; dx: Binding; scratch?: Binding }, shape: { m: number; k: number; n: number }): void {
  matmul(gpu, { a: buffers.dy, b: buffers.w, out: buffers.dx, ...(buffers.scratch && { scratch: buffers.scratch }) }, backwardInputShape(shape));
}

/** dW[k, n] = Xᵀ · dY, written (not accumulated); shape is the forward pass's. Needs scratch when M is long. */
export function matmulBackwardWeights(gpu: GpuContext, buffers: { x: Binding; dy: Binding; dw: Binding; scratch?: Binding }, shape: { m: number; k: number; n: number }): void {
  matmul(gpu, { a: buffers.x, b: buffers.dy, out: buffers.dw, ...(buffers.scratch && { scratch: buffers.scratch }) }, backwardWeightsShape(shape));
}

export function backwardInputShape({ m, k, n }: { m: number; k: number; n: number }): MatmulShape {
  return { m, k: n, n: k, transposeB: true };
}

export function backwardWeightsShape({ m, k, n }: { m: number; k: number; n: number }): MatmulShape {
  return { m: k, k: m, n, transposeA: true };
}

/** Column groups of the bias-gradient kernel: one invocation per column and chunk of rows. */
const COLUMNS = 64;

/** Floats of scratch `biasGradient` needs for dY [m, n] (0 when it runs as one dispatch). */
export function biasGradientScratchLength({ m, n }: { m: number; n: number }): number {
  const { splits } = splitReduction(m, groups(n, COLUMNS));
  return splits > 1 ? splits * n : 0;
}

/** db[n] = Σ_rows dY[m, n], written: 1 dispatch, or 2 when the rows are split (a long M, as for dW). */
export function biasGradient(gpu: GpuContext, buffers: { dy: Binding; db: Binding; scratch?: Binding }, { m, n }: { m: number; n: number }): void {
  const { splits, chunk } = splitReduction(m, groups(n, COLUMNS));
  const params = new Uint32Array([m, n, chunk, 0]);
  if (splits === 1) {
    gpu.dispatch(COLUMN_SUM, [buffers.dy, buffers.db], [groups(n, COLUMNS), 1], params);
    return;
  }
  const scratch = requireScratch(buffers.scratch, splits * n, 'biasGradient');
  gpu.dispatch(COLUMN_SUM, [buffers.dy, scratch], [groups(n, COLUMNS), splits], params);
  sumPartials(gpu, scratch, buffers.db, undefined, n, n, splits);
}

function requireScratch(scratch: Binding | undefined, length: number, what: string): Binding {
  if (scratch === undefined || scratch.size < length * 4) {
    throw new Error(`${what} splits its reduction here and needs a scratch buffer of ${length} floats (see its ScratchLength function)`);
  }
  return scratch;
}

const REDUCE_GROUP = 256;

function sumPartials(gpu: GpuContext, partials: Binding, out: Binding, bias: Binding | undefined, count: number, n: number, splits: number): void {
  const blocks = groups(count, REDUCE_GROUP);
  const maxX = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  const params = new Uint32Array([count, n, splits, 0]);
  const bindings: Binding[] = bias === undefined ? [partials, out] : [partials, out, bias];
  gpu.dispatch(reduceKernel(bias !== undefined), bindings, [Math.min(blocks, maxX), Math.ceil(blocks / maxX)], params);
}

const kernels = new Map<string, string>();

/** WGSL of the tiled product for one flag combination, built once (GpuContext caches pipelines by source). */
function matmulKernel(transposeA: boolean, transposeB: boolean, bias: boolean): string {
  const key = `${transposeA}${transposeB}${bias}`;
  let code = kernels.get(key);
  if (code !== undefined) return code;
  // Each variant walks its stored matrix along the contiguous axis so neighbouring invocations read
  // neighbouring addresses; the tile in workgroup memory is always [kk][row or column].
  const along = (contiguousInK: boolean) => contiguousInK
    ? 'let kk = e % TK; let xx = e / TK;'
    : 'let xx = e % TILE; let kk = e / TILE;';
  const aIndex = transposeA ? 'col * params.m + row' : 'row * params.k + col';
  const bIndex = transposeB ? 'col * params.k + kIndex' : 'kIndex * params.n + col';
  // The register block is unrolled by hand: a runtime-indexed array may be spilled to memory by some compilers.
  const rows = Array.from({ length: BLOCK }, (_, i) => i);
  code = /* wgsl */ `
const TILE = ${TILE}u;
const TK = ${TK}u;
const THREADS = ${THREADS}u;
const SIDE = ${TILE / BLOCK}u;
// Rows of the staged tiles are padded by one float: the k-contiguous fetches write a column of the tile, and a
// stride of exactly 32 floats would put all of them in one memory bank.
const STRIDE = TILE + 1u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
struct Params { m: u32, k: u32, n: u32, chunk: u32 }
@group(0) @binding(${bias ? 4 : 3}) var<uniform> params: Params;
var<workgroup> tileA: array<f32, ${TK * (TILE + 1)}>;
var<workgroup> tileB: array<f32, ${TK * (TILE + 1)}>;

fn store(offset: u32, row: u32, col0: u32, values: vec4<f32>) {
  if (row >= params.m) { return; }
  for (var j = 0u; j < ${BLOCK}u; j++) {
    let col = col0 + j;
    if (col < params.n) { out[offset + row * params.n + col] = values[j]${bias ? ' + bias[col]' : ''}; }
  }
}

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
  let tilesN = (params.n + TILE - 1u) / TILE;
  let tile = wg.x + wg.y * grid.x;
  if (tile >= tilesN * ((params.m + TILE - 1u) / TILE)) { return; }
  let m0 = (tile / tilesN) * TILE;
  let n0 = (tile % tilesN) * TILE;
  let kBegin = wg.z * params.chunk;
  let kEnd = min(kBegin + params.chunk, params.k);
  let r0 = (local / SIDE) * ${BLOCK}u;
  let c0 = (local % SIDE) * ${BLOCK}u;
  ${rows.map((i) => `var acc${i} = vec4<f32>();`).join(' ')}
  for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
    for (var i = 0u; i < ${(TK * TILE) / THREADS}u; i++) {
      let e = local + i * THREADS;
      {
        ${along(!transposeA)}
        let row = m0 + xx;
        let col = k0 + kk;
        var v = 0.0;
        if (row < params.m && col < kEnd) { v = a[${aIndex}]; }
        tileA[kk * STRIDE + xx] = v;
      }
      {
        ${along(transposeB)}
        let col = n0 + xx;
        let kIndex = k0 + kk;
        var v = 0.0;
        if (col < params.n && kIndex < kEnd) { v = b[${bIndex}]; }
        tileB[kk * STRIDE + xx] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let base = kk * STRIDE;
      let bv = vec4(tileB[base + c0], tileB[base + c0 + 1u], tileB[base + c0 + 2u], tileB[base + c0 + 3u]);
      ${rows.map((i) => `acc${i} += tileA[base + r0 + ${i}u] * bv;`).join('\n      ')}
    }
    workgroupBarrier();
  }
  // Split layers (z > 0) write after the whole product: partials are [split][m][n].
  let offset = wg.z * params.m * params.n;
  ${rows.map((i) => `store(offset, m0 + r0 + ${i}u, n0 + c0, acc${i});`).join('\n  ')}
}`;
  kernels.set(key, code);
  return code;
}

function reduceKernel(bias: boolean): string {
  const key = `reduce${bias}`;
  const cached = kernels.get(key);
  if (cached !== undefined) return cached;
  const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> bias: array<f32>;' : ''}
struct Params { count: u32, n: u32, splits: u32 }
@group(0) @binding(${bias ? 3 : 2}) var<uniform> params: Params;
@compute @workgroup_size(${REDUCE_GROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
  let i = id.x + id.y * grid.x * ${REDUCE_GROUP}u;
  if (i >= params.count) { return; }
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) { sum += partials[s * params.count + i]; }
  out[i] = sum${bias ? ' + bias[i % params.n]' : ''};
}`;
  kernels.set(key, code);
  return code;
}

/** One invocation per column and chunk of rows; neighbouring invocations read neighbouring columns of a row. */
const COLUMN_SUM = /* wgsl */ `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
struct Params { m: u32, n: u32, chunk: u32 }
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${COLUMNS})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let col = id.x;
  if (col >= params.n) { return; }
  let begin = id.y * params.chunk;
  let end = min(begin + params.chunk, params.m);
  var sum = 0.0;
  for (var row = begin; row < end; row++) { sum += dy[row * params.n + col]; }
  out[id.y * params.n + col] = sum;
}`;
