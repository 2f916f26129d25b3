// The engine's CPU kernels as the training step calls them, each split among the threads of a KernelPool (or run
// whole on one thread): products by rows of the result, window convolutions by drawings (a filter gradient as each
// drawing's sum, added in drawing order on this thread), BatchNormalization in training by rows in norm.c's blocks
// (its per-channel totals between them on this thread) and in prediction by channels, preprocessing by drawings,
// Adam by parameters. No split changes the order of any sum, so every thread count gives the same bits
// (tests/unit/…/threads.test.ts). Splits by channels left α=0.25's 8- and 16-channel layers, its largest, on one
// thread. Element and channel splits come in whole cache lines (16 floats; MemoryLayout aligns buffers to 64 bytes):
// two cores writing into one line take turns owning it.
import type { EngineKernels } from './kernels.ts';
import type { KernelPool, SplitKernel } from './threads.ts';

type Ptr = number;

/** Floats in a 64-byte cache line: the unit of a channel split. */
const LINE = 16;

/** The window kernels' shape arguments after `batch`: inH, inW, outH, outW, stride, padTop, padLeft. */
export type Window = [number, number, number, number, number, number, number];

/** [start, end) ranges covering 0..total in at most `parts` pieces, each a multiple of `align` but the last. */
export function ranges(total: number, parts: number, align: number): [number, number][] {
  const chunk = Math.max(align, Math.ceil(total / parts / align) * align);
  const out: [number, number][] = [];
  for (let start = 0; start < total; start += chunk) out.push([start, Math.min(total, start + chunk)]);
  return out;
}

export class ParallelKernels {
  constructor(private readonly k: EngineKernels, private pool: KernelPool | null) {}

  /** Floats of scratch a BatchNormalization of `rows` × `channels` needs, shared by the threads (norm.c's count). */
  normScratchFloats(rows: number, channels: number): number {
    return this.k.norm_scratch_floats(rows, channels);
  }

  /** Threads each call is split among. */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** Stops the pool's helper threads; later calls run on this thread alone. */
  terminate(): void {
    this.pool?.terminate();
    this.pool = null;
  }

  private run(kernel: SplitKernel, slices: number[][]): void {
    if (this.pool !== null && slices.length > 1) this.pool.run(kernel, slices);
    else for (const slice of slices) (this.k[kernel] as (...args: number[]) => void)(...slice);
  }

  /** Floats of packing scratch each thread's share of a product with `n` columns needs (gemm.c's count, in whole lines). */
  gemmPackFloats(n: number): number {
    return Math.ceil(this.k.gemm_pack_floats(n) / LINE) * LINE;
  }

  /** C[M×N] = A·B (kernels.ts gemm), split by rows of C; `pack` holds gemmPackFloats(n) floats for each thread. */
  gemm(c: Ptr, a: Ptr, sai: number, sap: number, b: Ptr, ldb: number, m: number, n: number, k: number, pack: Ptr): void {
    const stride = this.gemmPackFloats(n) * 4;
    this.run('gemm', ranges(m, this.threads, 4).map(([i0, i1], t) => [c + i0 * n * 4, a + i0 * sai * 4, sai, sap, b, ldb, i1 - i0, n, k, pack + t * stride]));
  }

  stemForward(x: Ptr, w: Ptr, y: Ptr, batch: number, window: Window, cout: number): void {
    const [inH, inW, outH, outW] = window;
    this.run('stem_forward', ranges(batch, this.threads, 1).map(([n0, n1]) => [x + n0 * inH * inW * 3 * 4, w, y + n0 * outH * outW * cout * 4, n1 - n0, ...window, cout]));
  }

  /** The stem's filter gradient: each drawing's sums into `scratch` (batch × 27 × cout floats), split by drawings,
   * then added in drawing order. */
  stemBackwardFilter(x: Ptr, dy: Ptr, dw: Ptr, batch: number, window: Window, cout: number, scratch: Ptr): void {
    this.run('stem_filter_sums', ranges(batch, this.threads, 1).map(([n0, n1]) => [x, dy, scratch, n0, n1, ...window, cout]));
    this.k.add_drawing_sums(scratch, dw, batch, 27 * cout);
  }

  depthwiseForward(x: Ptr, w: Ptr, y: Ptr, batch: number, window: Window, channels: number): void {
    const [inH, inW, outH, outW] = window;
    this.run('depthwise_forward', ranges(batch, this.threads, 1).map(([n0, n1]) => [x + n0 * inH * inW * channels * 4, w, y + n0 * outH * outW * channels * 4, n1 - n0, ...window, channels]));
  }

  depthwiseBackwardInput(dy: Ptr, w: Ptr, dx: Ptr, batch: number, window: Window, channels: number): void {
    const [inH, inW, outH, outW] = window;
    this.run('depthwise_backward_input', ranges(batch, this.threads, 1).map(([n0, n1]) => [dy + n0 * outH * outW * channels * 4, w, dx + n0 * inH * inW * channels * 4, n1 - n0, ...window, channels]));
  }

  /** The depthwise filter gradient as the stem's: drawings' sums into `scratch` (batch × 9 × channels floats), then
   * added in drawing order. */
  depthwiseBackwardFilter(x: Ptr, dy: Ptr, dw: Ptr, batch: number, window: Window, channels: number, scratch: Ptr): void {
    this.run('depthwise_filter_sums', ranges(batch, this.threads, 1).map(([n0, n1]) => [x, dy, scratch, n0, n1, ...window, channels]));
    this.k.add_drawing_sums(scratch, dw, batch, 9 * channels);
  }

  /** norm.c's blocks of `rows`, split among the threads: each thread's sums and rows in whole blocks. */
  private normBlocks(rows: number): [number, number][] {
    return ranges(Math.ceil(rows / this.k.norm_block_rows()), this.threads, 1);
  }

  /**
   * The training forward (norm.c's norm_forward_training, phase by phase): block sums, the mean, block sums of the
   * squared deviations, the variance and moving averages, then y, the sums and y split by rows. `scratch` holds
   * normScratchFloats(rows, channels) floats; `relu6` false: v2's linear normalization.
   */
  normForwardTraining(x: Ptr, y: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, movingMean: Ptr, movingVariance: Ptr, scratch: Ptr, rows: number, channels: number, decay: number, epsilon: number, relu6: boolean): void {
    const blocks = this.normBlocks(rows);
    this.run('norm_block_sums', blocks.map(([b0, b1]) => [x, 0, scratch, rows, channels, b0, b1]));
    this.k.norm_mean(scratch, saved, rows, channels);
    this.run('norm_block_sums', blocks.map(([b0, b1]) => [x, saved, scratch, rows, channels, b0, b1]));
    this.k.norm_variance(scratch, saved, movingMean, movingVariance, rows, channels, decay, epsilon);
    this.run('norm_apply', blocks.map(([b0, b1]) => [x, y, gamma, beta, saved, rows, channels, Number(relu6), b0, b1]));
  }

  normForwardInference(x: Ptr, y: Ptr, gamma: Ptr, beta: Ptr, movingMean: Ptr, movingVariance: Ptr, rows: number, channels: number, epsilon: number, relu6: boolean): void {
    this.run('norm_forward_inference', ranges(channels, this.threads, LINE).map(([c0, c1]) => [x, y, gamma, beta, movingMean, movingVariance, rows, channels, epsilon, Number(relu6), c0, c1]));
  }

  /** The backward pass (norm.c's norm_backward, phase by phase), split by rows as the forward; `scratch` as there. */
  normBackward(x: Ptr, dy: Ptr, gamma: Ptr, beta: Ptr, saved: Ptr, dx: Ptr, dGamma: Ptr, dBeta: Ptr, scratch: Ptr, rows: number, channels: number, relu6: boolean): void {
    const blocks = this.normBlocks(rows);
    this.run('norm_grad_block_sums', blocks.map(([b0, b1]) => [x, dy, gamma, beta, saved, scratch, rows, channels, Number(relu6), b0, b1]));
    this.k.norm_grad_totals(scratch, gamma, saved, dGamma, dBeta, rows, channels);
    this.run('norm_grad_apply', blocks.map(([b0, b1]) => [x, dy, gamma, beta, saved, scratch, dx, rows, channels, Number(relu6), b0, b1]));
  }

  /** y = a + b over `count` floats (a residual add, or its gradient joining the chain's), split in whole lines. */
  add(a: Ptr, b: Ptr, y: Ptr, count: number): void {
    this.run('add_forward', ranges(count, this.threads, LINE).map(([i0, i1]) => [a, b, y, i0, i1]));
  }

  /** Bitmaps (uint8, inSize²) to the network's input (outSize² × 3 floats), split by drawings. */
  preprocess(bitmaps: Ptr, out: Ptr, count: number, inSize: number, outSize: number): void {
    this.run('preprocess', ranges(count, this.threads, 1).map(([n0, n1]) => [bitmaps + n0 * inSize * inSize, out + n0 * outSize * outSize * 3 * 4, n1 - n0, inSize, outSize]));
  }

  adam(params: Ptr, grads: Ptr, m: Ptr, v: Ptr, count: number, ...coefficients: [number, number, number, number, number, number, number, number]): void {
    this.run('adam', ranges(count, this.threads, 4).map(([i0, i1]) => [params + i0 * 4, grads + i0 * 4, m + i0 * 4, v + i0 * 4, i1 - i0, ...coefficients]));
  }
}
