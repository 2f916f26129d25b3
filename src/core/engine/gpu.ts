// WebGPU plumbing for the training engine (issue "A training engine at native speed"): one device, f32 storage
// buffers, compute pipelines compiled once per WGSL source, and dispatches recorded into one command encoder per
// submit and counted, so a training step's cost in dispatches means the same on any hardware. Runs wherever
// navigator.gpu exists (the trainer worker, browser tests on SwiftShader, Dawn from Node).

/** One storage binding of a dispatch: a whole buffer, or a byte range of one (offsets must be 256-byte aligned). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

/** Uniform blocks start on this many bytes (WebGPU's minUniformBufferOffsetAlignment is at most 256 everywhere). */
const UNIFORM_ALIGN = 256;

export class GpuContext {
  /** Compute passes dispatched since creation. */
  dispatches = 0;
  /** GPU objects created since creation (buffers, bind groups): flat once a training loop reaches its steady state. */
  allocations = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  /**
   * The uniform blocks of the dispatches recorded since the last submit, back to back in one buffer written
   * through the queue (ordered after earlier submits, so reusing it across submits is safe). It grows when a
   * submit needs more; the outgrown one is destroyed once that submit is sent.
   */
  private uniforms: GPUBuffer;
  private uniformCursor = 0;
  private outgrown: GPUBuffer[] = [];
  /** Bind groups by pipeline and bound ranges: a training step records the same dispatches every time. */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  /** Mapped-readable buffers by size, reused by `read`. */
  private readonly staging = new Map<number, GPUBuffer[]>();
  /** Submitted work not yet known to be done, oldest first (see `throttle`). */
  private inFlight: Promise<undefined>[] = [];

  /** Why the device was lost (a driver reset, a crashed GPU process), once it is. */
  private lost: string | null = null;
  /** The first validation error the device reported (WebGPU reports them asynchronously, not where they happen). */
  private failure: string | null = null;

  private constructor(readonly device: GPUDevice, readonly features: ReadonlySet<string>) {
    this.uniforms = this.createUniforms(64 * 1024);
    void device.lost.then((info) => { this.lost = info.message || info.reason || 'unknown reason'; });
    device.addEventListener('uncapturederror', (event) => { this.failure ??= (event as GPUUncapturedErrorEvent).error.message; });
  }

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
    this.allocations++;
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
    const size = length * 4;
    const free = this.staging.get(size) ?? [];
    this.staging.set(size, free);
    const staging = free.pop() ?? this.created(this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
    const encoder = this.takeEncoder();
    encoder.copyBufferToBuffer(buffer, offsetFloats * 4, staging, 0, size);
    this.send(encoder);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    free.push(staging);
    return out;
  }

  /**
   * Waits until at most `limit` submits are still running, so a loop that submits steps without reading anything
   * back keeps the GPU busy without queueing unbounded work (and memory for the data it writes).
   */
  async throttle(limit = 2): Promise<void> {
    while (this.inFlight.length > limit) await this.inFlight.shift();
  }

  /**
   * Records one compute dispatch of `code`'s `main` over `workgroups`. Bindings are read-write storage buffers
   * at @group(0) @binding(0…); `params`, when given, is a small uniform block bound after them.
   */
  dispatch(code: string, bindings: readonly Binding[], workgroups: readonly [number, number?, number?], params?: Uint32Array | Float32Array): void {
    const pipeline = this.pipeline(code);
    const resources: GPUBufferBinding[] = bindings.map((b) => ('buffer' in b ? b : { buffer: b }));
    if (params !== undefined) resources.push(this.uniform(params));
    const key = [this.idOf(pipeline), ...resources.map((r) => `${this.idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? ''}`)].join(' ');
    let bindGroup = this.bindGroups.get(key);
    if (bindGroup === undefined) {
      // Kernel tests bind many short-lived buffers on one context; a training loop needs a few hundred groups.
      if (this.bindGroups.size >= 4096) this.bindGroups.clear();
      const entries = resources.map((resource, binding) => ({ binding, resource }));
      bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.allocations++;
      this.bindGroups.set(key, bindGroup);
    }
    const pass = this.recording().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
    pass.end();
    this.dispatches++;
  }

  /** Sends what is recorded to the GPU without waiting for it. */
  submit(): void {
    if (this.encoder !== null) this.send(this.takeEncoder());
  }

  private send(encoder: GPUCommandEncoder): void {
    // Work sent to a lost device vanishes without an error; the caller (a run) must hear of it to move on.
    if (this.lost !== null) throw new Error(`The GPU device was lost (${this.lost}).`);
    // A kernel that failed to compile, or a bad binding, would otherwise leave its output unwritten without a word.
    if (this.failure !== null) throw new Error(`The engine's GPU work failed: ${this.failure}`);
    this.device.queue.submit([encoder.finish()]);
    this.inFlight.push(this.device.queue.onSubmittedWorkDone());
    // Only the latest few matter to `throttle`; older ones are long done in any loop that calls it.
    if (this.inFlight.length > 16) this.inFlight.shift();
    for (const buffer of this.outgrown) buffer.destroy();
    this.outgrown = [];
    this.uniformCursor = 0;
  }

  /** `params` written at the next free aligned range of the uniform buffer, for a dispatch being recorded. */
  private uniform(params: Uint32Array | Float32Array): GPUBufferBinding {
    const size = Math.ceil(params.byteLength / 16) * 16 || 16;
    if (this.uniformCursor + size > this.uniforms.size) {
      this.outgrown.push(this.uniforms);
      this.uniforms = this.createUniforms(this.uniforms.size * 2);
      this.uniformCursor = 0;
    }
    const offset = this.uniformCursor;
    this.device.queue.writeBuffer(this.uniforms, offset, params.buffer, params.byteOffset, params.byteLength);
    this.uniformCursor += Math.ceil(size / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    return { buffer: this.uniforms, offset, size };
  }

  private createUniforms(size: number): GPUBuffer {
    return this.created(this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
  }

  private created(buffer: GPUBuffer): GPUBuffer {
    this.allocations++;
    return buffer;
  }

  /** A number for an object, for bind-group keys (GPU objects have no identity a string can carry). */
  private idOf(object: object): number {
    let id = this.ids.get(object);
    if (id === undefined) this.ids.set(object, (id = nextId++));
    return id;
  }

  /** A pipeline per WGSL source; compile errors come back asynchronously and fail the next submit (see `send`). */
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

let nextId = 1;

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
