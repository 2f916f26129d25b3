// The engine's WebAssembly module (the C kernels beside this file, built by scripts/build-wasm.sh into
// generated/engine.wasm): its exports typed, and instantiation from bytes or a compiled module. Every pointer is
// a byte offset into the module's exported memory. Pure TS, any thread (Node tests, the trainer worker).
import { UnsupportedModelError } from '../plan.ts';

/** A byte offset into the module's memory. */
type Ptr = number;

/** The C kernels' exports (see the .c files for what each computes). */
export interface EngineKernels {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  /** The threads build's C stack pointer (threads.ts sets each helper's). */
  __stack_pointer?: WebAssembly.Global;
  preprocess(bitmaps: Ptr, out: Ptr, count: number, inSize: number, outSize: number): void;
  stem_forward(x: Ptr, w: Ptr, y: Ptr, batch: number, inH: number, inW: number, outH: number, outW: number, stride: number, padTop: number, padLeft: number, cout: number): void;
  stem_filter_sums(x: Ptr, dy: Ptr, sums: Ptr, n0: number, n1: number, inH: number, inW: number, outH: number, outW: number, stride: number, padTop: number, padLeft: number, cout: number): void;
  depthwise_forward(x: Ptr, w: Ptr, y: Ptr, batch: number, inH: number, inW: number, outH: number, outW: number, stride: number, padTop: number, padLeft: number, channels: number): void;
  depthwise_backward_input(dy: Ptr, w: Ptr, dx: Ptr, batch: number, inH: number, inW: number, outH: number, outW: number, stride: number, padTop: number, padLeft: number, channels: number): void;
  depthwise_filter_sums(x: Ptr, dy: Ptr, sums: Ptr, n0: number, n1: number, inH: number, inW: number, outH: number, outW: number, stride: number, padTop: number, padLeft: number, channels: number): void;
  add_drawing_sums(sums: Ptr, out: Ptr, batch: number, count: number): void;
  gemm(c: Ptr, a: Ptr, strideARow: number, strideAInner: number, b: Ptr, ldb: number, m: number, n: number, k: number, pack: Ptr): void;
  gemm_pack_floats(n: number): number;
  transpose(src: Ptr, dst: Ptr, rows: number, cols: number): void;
  add_bias(y: Ptr, bias: Ptr, m: number, n: number): void;
  column_sum(dy: Ptr, db: Ptr, m: number, n: number): void;
  norm_block_rows(): number;
  norm_scratch_floats(rows: number, channels: number): number;
  norm_block_sums(x: Ptr, center: Ptr, scratch: Ptr, rows: number, channels: number, b0: number, b1: number): void;
  norm_mean(scratch: Ptr, saved: Ptr, rows: number, channels: number): void;
  norm_variance(scratch: Ptr, saved: Ptr, movingMean: Ptr, movingVariance: Ptr, rows: number, channels: number, decay: number, epsilon: number): void;
  norm_apply(x: Ptr, y: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, rows: number, channels: number, relu6: number, b0: number, b1: number): void;
  norm_forward_training(x: Ptr, y: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, movingMean: Ptr, movingVariance: Ptr, scratch: Ptr, rows: number, channels: number, decay: number, epsilon: number, relu6: number): void;
  norm_forward_inference(x: Ptr, y: Ptr, gamma: Ptr, beta: Ptr, movingMean: Ptr, movingVariance: Ptr, rows: number, channels: number, epsilon: number, relu6: number, c0: number, c1: number): void;
  norm_grad_block_sums(x: Ptr, dy: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, scratch: Ptr, rows: number, channels: number, relu6: number, b0: number, b1: number): void;
  norm_grad_totals(scratch: Ptr, gamma: Ptr, saved: Ptr, dGamma: Ptr, dBeta: Ptr, rows: number, channels: number): void;
  norm_grad_apply(x: Ptr, dy: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, scratch: Ptr, dx: Ptr, rows: number, channels: number, relu6: number, b0: number, b1: number): void;
  norm_backward(x: Ptr, dy: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, dx: Ptr, dGamma: Ptr, dBeta: Ptr, scratch: Ptr, rows: number, channels: number, relu6: number): void;
  add_forward(a: Ptr, b: Ptr, y: Ptr, i0: number, i1: number): void;
  relu_forward(y: Ptr, i0: number, i1: number): void;
  relu_backward(dy: Ptr, y: Ptr, dx: Ptr, i0: number, i1: number): void;
  pool_forward(x: Ptr, y: Ptr, batch: number, positions: number, channels: number): void;
  pool_backward(dy: Ptr, dx: Ptr, batch: number, positions: number, channels: number): void;
  adam(params: Ptr, grads: Ptr, m: Ptr, v: Ptr, count: number, learningRate: number, beta1: number, beta2: number, oneMinusBeta1: number, oneMinusBeta2: number, epsilon: number, oneMinusAccBeta1: number, oneMinusAccBeta2: number): void;
}

/**
 * An instance of the engine's module: one memory, its own C stack; trainer.ts lays out its buffers above heapBase.
 * The threads build imports its memory: pass the shared memory every thread's instance uses.
 */
export async function instantiateKernels(source: BufferSource | WebAssembly.Module, sharedMemory?: WebAssembly.Memory): Promise<EngineKernels> {
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
  const instance = await WebAssembly.instantiate(module, sharedMemory === undefined ? {} : { env: { memory: sharedMemory } });
  // The exports are what the C sources declare with EXPORT(...); kernels.ts mirrors them by hand. The threads
  // build exports no memory: it is the one passed in.
  return (sharedMemory === undefined ? instance.exports : { ...instance.exports, memory: sharedMemory }) as unknown as EngineKernels;
}

/** What a 32-bit module's memory can hold at most (65,536 pages of 64 KiB). */
const MAX_MEMORY_BYTES = 2 ** 32;

/** Bytes a buffer of `floats` f32 takes, rounded up to 64 so every buffer starts on a cache line (threads that
 * split a buffer's channels in whole lines then never write into one line together). */
function alignedBytes(floats: number): number {
  return Math.ceil((floats * 4) / 64) * 64;
}

/**
 * A bump allocator over the module's memory: `floats(n)` reserves n floats and returns their byte offset; `grow`
 * then grows the memory once to hold everything, after which typed-array views stay valid (memory only detaches
 * its buffer on growth).
 */
export class MemoryLayout {
  private end: number;

  constructor(private readonly kernels: EngineKernels) {
    this.end = Math.ceil(Number(kernels.__heap_base.value) / 64) * 64;
  }

  floats(count: number): Ptr {
    const at = this.end;
    this.end += alignedBytes(count);
    return at;
  }

  /** Grows the memory to hold every buffer reserved so far (zero-filled, as WebAssembly memory starts). */
  grow(): void {
    const memory = this.kernels.memory;
    const pages = Math.ceil((this.end - memory.buffer.byteLength) / 65_536);
    const tooLarge = () => new UnsupportedModelError(`this batch and input size need ${(this.end / 2 ** 30).toFixed(1)} GiB of WebAssembly memory, more than the browser gives`);
    if (this.end > MAX_MEMORY_BYTES) throw tooLarge();
    try {
      if (pages > 0) memory.grow(pages);
    } catch (error) {
      // A browser may refuse well under the 4 GiB a 32-bit module can address.
      if (error instanceof RangeError) throw tooLarge();
      throw error;
    }
  }

  get bytes(): number {
    return this.end;
  }
}
