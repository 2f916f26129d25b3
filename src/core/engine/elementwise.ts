// The engine's small elementwise kernels for MobileNet v2 and Teachable Machine heads: a residual add forward, the
// add of a saved skip gradient into the chain's (a residual's backward: its gradient reaches both branches), and
// ReLU after a dense layer, forward in place and backward. Records dispatches on a GpuContext (gpu.ts); any thread
// with WebGPU.
import { FLAT_INDEX, FLAT_SIZE, flatGrid } from './flat-grid.ts';
import type { Binding, GpuContext } from './gpu.ts';

function kernel(bindings: string, body: string): string {
  return /* wgsl */ `${bindings}
${FLAT_INDEX}
@compute @workgroup_size(${FLAT_SIZE})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = flatIndex(g, n, l);
  if (i >= count) { return; }
  ${body}
}`;
}

const ADD = kernel(/* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> count: u32;`, 'y[i] = a[i] + b[i];');

const ACCUMULATE = kernel(/* wgsl */ `
@group(0) @binding(0) var<storage, read_write> total: array<f32>;
@group(0) @binding(1) var<storage, read> addend: array<f32>;
@group(0) @binding(2) var<uniform> count: u32;`, 'total[i] += addend[i];');

const RELU = kernel(/* wgsl */ `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> count: u32;`, 'y[i] = max(y[i], 0.0);');

// tf.relu's gradient is dy·step(x) with step(0) = 0; y = relu(x) is positive exactly where x is, so the output
// (which the forward pass keeps) stands in for the input it overwrote.
const RELU_BACKWARD = kernel(/* wgsl */ `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> count: u32;`, 'dx[i] = select(0.0, dy[i], y[i] > 0.0);');

/** y = a + b over `count` floats (a residual connection): 1 dispatch. */
export function addForward(gpu: GpuContext, b: { a: Binding; b: Binding; y: Binding }, count: number): void {
  gpu.dispatch(ADD, [b.a, b.b, b.y], flatGrid(count), Uint32Array.of(count));
}

/** total += addend over `count` floats (a skip gradient joining the chain's): 1 dispatch. */
export function accumulate(gpu: GpuContext, b: { total: Binding; addend: Binding }, count: number): void {
  gpu.dispatch(ACCUMULATE, [b.total, b.addend], flatGrid(count), Uint32Array.of(count));
}

/** y = max(y, 0) in place over `count` floats: 1 dispatch. */
export function reluForward(gpu: GpuContext, y: Binding, count: number): void {
  gpu.dispatch(RELU, [y], flatGrid(count), Uint32Array.of(count));
}

/** dx = dy where y > 0, else 0, given reluForward's output y: 1 dispatch. */
export function reluBackward(gpu: GpuContext, b: { dy: Binding; y: Binding; dx: Binding }, count: number): void {
  gpu.dispatch(RELU_BACKWARD, [b.dy, b.y, b.dx], flatGrid(count), Uint32Array.of(count));
}
