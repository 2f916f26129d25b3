// WebGPU plumbing for the training engine (issue "A training engine at native speed"): one device, f32 storage
// buffers, compute pipelines compiled once per WGSL source, and dispatches recorded into one command encoder per
// submit and counted, so a training step's cost in dispatches means the same on any hardware. Runs wherever
// navigator.gpu exists (the trainer worker, browser tests on SwiftShader, Dawn from Node).

/** One storage binding of a dispatch: a whole buffer, or a byte range of one (offsets must be 256-byte aligned). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

export class GpuContext {
  /** Compute passes dispatched since creation (or the last `resetCount`). */
  dispatches = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  /** Uniform blocks of recorded dispatches, destroyed once submitted (the GPU keeps them until its work is done). */
  private transient: GPUBuffer[] = [];

  private constructor(readonly device: GPUDevice, readonly features: ReadonlySet<string>) {}

  /** The default adapter's device, or null where the browser has no WebGPU (the caller then uses another path). */
  static async create(): Promise<GpuContext | null> {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    const adapter = await gpu?.requestAdapter();
    if (adapter === undefined || adapter === null) return null;
    // The engine's largest buffers (activations of a 1,024-drawing batch at 96 px) pass the default 128 MiB.
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
        maxComputeWorkgroupsPerDimension: adapter.limits.maxComputeWorkgroupsPerDimension,
      },
    });
    return new GpuContext(device, new Set(device.features));
  }

  /** A zero-filled f32 storage buffer of `length` floats that can be copied from and to. */
  buffer(length: number, label = ''): GPUBuffer {
    return this.device.createBuffer({
      label, size: Math.max(4, Math.ceil((length * 4) / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  /** A storage buffer holding `values` (f32, or u32/i32 bit patterns). */
  upload(values: Float32Array | Uint32Array | Int32Array, label = ''): GPUBuffer {
    const buffer = this.buffer(values.length, label);
    this.write(buffer, values);
    return buffer;
  }

  write(buffer: GPUBuffer, values: Float32Array | Uint32Array | Int32Array, offsetFloats = 0): void {
    this.device.queue.writeBuffer(buffer, offsetFloats * 4, values.buffer, values.byteOffset, values.byteLength);
  }

  /** Submits what is recorded, then copies `length` floats of `buffer` back (the only wait on the GPU). */
  async read(buffer: GPUBuffer, length = buffer.size / 4, offsetFloats = 0): Promise<Float32Array> {
    const staging = this.device.createBuffer({ size: length * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.takeEncoder();
    encoder.copyBufferToBuffer(buffer, offsetFloats * 4, staging, 0, length * 4);
    this.send(encoder);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.destroy();
    return out;
  }

  /**
   * Records one compute dispatch of `code`'s `main` over `workgroups`. Bindings are read-write storage buffers
   * at @group(0) @binding(0…); `params`, when given, is a small uniform block bound after them.
   */
  dispatch(code: string, bindings: readonly Binding[], workgroups: readonly [number, number?, number?], params?: Uint32Array | Float32Array): void {
    const pipeline = this.pipeline(code);
    const entries: GPUBindGroupEntry[] = bindings.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } }));
    if (params !== undefined) {
      // Uniform blocks are 16-byte aligned; the small buffer is freed once the GPU is done with it.
      const uniform = this.device.createBuffer({ size: Math.ceil(params.byteLength / 16) * 16 || 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(uniform, 0, params.buffer, params.byteOffset, params.byteLength);
      entries.push({ binding: bindings.length, resource: { buffer: uniform } });
      this.transient.push(uniform);
    }
    const pass = this.recording().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
    pass.end();
    this.dispatches++;
  }

  /** Sends what is recorded to the GPU without waiting for it. */
  submit(): void {
    if (this.encoder !== null) this.send(this.takeEncoder());
  }

  private send(encoder: GPUCommandEncoder): void {
    this.device.queue.submit([encoder.finish()]);
    for (const uniform of this.transient) uniform.destroy();
    this.transient = [];
  }

  /** Compile errors of WGSL surface here, with the source's messages, instead of as a lost device later. */
  pipeline(code: string): GPUComputePipeline {
    let pipeline = this.pipelines.get(code);
    if (pipeline === undefined) {
      pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' } });
      this.pipelines.set(code, pipeline);
    }
    return pipeline;
  }

  destroy(): void {
    this.device.destroy();
  }

  private recording(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private takeEncoder(): GPUCommandEncoder {
    const encoder = this.recording();
    this.encoder = null;
    return encoder;
  }
}

/** Workgroups needed to cover `count` items with `size` invocations each. */
export function groups(count: number, size: number): number {
  return Math.max(1, Math.ceil(count / size));
}

/** WebGPU guarantees 65,535 workgroups per dimension; bigger grids wrap into y (a 1,024-drawing batch needs it). */
const MAX_GROUPS_X = 65_535;

/** A [x, y] grid of `size`-wide workgroups covering `count` items; the kernel rebuilds each item's index with
 * the WGSL of `flatIndexWgsl(size)` (and checks it against the count: the last row of the grid runs past it). */
export function grid(count: number, size: number): [number, number] {
  const total = groups(count, size);
  return total <= MAX_GROUPS_X ? [total, 1] : [MAX_GROUPS_X, Math.ceil(total / MAX_GROUPS_X)];
}

/** WGSL: `fn flatIndex(workgroup_id, num_workgroups, local_invocation_index)` for `@workgroup_size(size)` over `grid`. */
export function flatIndexWgsl(size: number): string {
  return /* wgsl */ `
fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * ${size}u + lid; }`;
}
