// The engine's WebGPU plumbing on this browser's adapter (SwiftShader here): a kernel with storage bindings and a
// uniform block runs, results come back, and dispatches are counted.
import { describe, expect, it } from 'vitest';
import { GpuContext, groups } from '../../../src/core/engine/gpu.ts';

const SCALE_ADD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { count: u32, scale: f32 }
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= params.count) { return; }
  y[id.x] = y[id.x] + params.scale * x[id.x];
}`;

describe('GpuContext', () => {
  it('runs a kernel with storage and uniform bindings, counts its dispatches, and reads the result back', async () => {
    const gpu = await GpuContext.create();
    expect(gpu, 'this Chromium exposes WebGPU (SwiftShader)').not.toBeNull();
    const count = 1000;
    const x = gpu!.upload(Float32Array.from({ length: count }, (_, i) => i));
    const y = gpu!.upload(new Float32Array(count).fill(1));
    const params = new Uint32Array([count, 0]);
    new Float32Array(params.buffer, 4, 1)[0] = 0.5;
    gpu!.dispatch(SCALE_ADD, [x, y], [groups(count, 64)], params);
    gpu!.dispatch(SCALE_ADD, [x, y], [groups(count, 64)], params);
    const out = await gpu!.read(y);
    expect(gpu!.dispatches).toBe(2);
    expect(Array.from(out.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(out[999]).toBe(1 + 999);
    gpu!.destroy();
  });
});
