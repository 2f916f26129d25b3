// The engine's WASM kernels one by one against tfjs ops on the CPU backend, on seeded data shaped to reach the
// paths a MobileNet at 48 px may not: GEMM row and column tails and chunked long sums, depthwise and stem windows
// on odd and even sizes at both strides, BatchNormalization on activations far from zero, and exact preprocessing.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { samePadding } from '../../../../../src/core/engine/plan.ts';
import { instantiateKernels, MemoryLayout, type EngineKernels } from '../../../../../src/core/engine/wasm/kernels.ts';
import { preprocess } from '../../../../../src/core/training/mobilenet.ts';
import { Random } from '../../../../../src/core/training/random.ts';
import { engineWasm, relativeError, sketches, TOLERANCE } from './reference.ts';

let k: EngineKernels;
beforeAll(async () => {
  await tf.setBackend('cpu');
  k = await instantiateKernels(await engineWasm());
});
// Each test's reference tensors are disposed with its scope.
beforeEach(() => tf.engine().startScope());
afterEach(() => tf.engine().endScope());

/** Copies each array into a fresh layout of the module's memory; `out` reserves zeroed floats. */
function place(arrays: Record<string, Float32Array | number>): { ptr: Record<string, number>; read: (name: string) => Float32Array } {
  const layout = new MemoryLayout(k);
  const ptr: Record<string, number> = {};
  const length: Record<string, number> = {};
  for (const [name, value] of Object.entries(arrays)) {
    length[name] = typeof value === 'number' ? value : value.length;
    ptr[name] = layout.floats(length[name]);
  }
  layout.grow();
  for (const [name, value] of Object.entries(arrays)) {
    const view = new Float32Array(k.memory.buffer, ptr[name], length[name]);
    if (typeof value === 'number') view.fill(0);
    else view.set(value);
  }
  return { ptr, read: (name) => new Float32Array(k.memory.buffer, ptr[name], length[name]).slice() };
}

function uniform(random: Random, length: number, magnitude = 1, offset = 0): Float32Array {
  return Float32Array.from({ length }, () => offset + random.symmetric(magnitude));
}

/** A(i, p) · B(p, j) summed over p in order, each product and sum rounded to f32, as the kernel's lanes do. */
function orderedProduct(a: Float32Array, sai: number, sap: number, b: Float32Array, m: number, n: number, kk: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < kk; p++) s = Math.fround(s + Math.fround(a[i * sai + p * sap]! * b[p * n + j]!));
      c[i * n + j] = s;
    }
  }
  return c;
}

describe('gemm', () => {
  it('multiplies X·W and Xᵀ·dY through row tails, 8/4/1-column tails and inner sums longer than one chunk', () => {
    const random = new Random(1);
    const [m, kk, n] = [7, 300, 13];
    const x = uniform(random, m * kk), w = uniform(random, kk * n), dy = uniform(random, m * n);
    const { ptr, read } = place({ x, w, dy, y: m * n, dw: kk * n, pack: k.gemm_pack_floats(n) });
    k.gemm(ptr.y!, ptr.x!, kk, 1, ptr.w!, n, m, n, kk, ptr.pack!);
    k.gemm(ptr.dw!, ptr.x!, 1, kk, ptr.dy!, n, kk, n, m, ptr.pack!);
    const [xt, wt, dyt] = [tf.tensor2d(x, [m, kk]), tf.tensor2d(w, [kk, n]), tf.tensor2d(dy, [m, n])];
    expect(relativeError(read('y'), tf.matMul(xt, wt).dataSync())).toBeLessThan(TOLERANCE / 10);
    expect(relativeError(read('dw'), tf.matMul(xt, dyt, true, false).dataSync())).toBeLessThan(TOLERANCE / 10);
    tf.dispose([xt, wt, dyt]);
  });

  // Products with at least 32 rows copy B's panels into the scratch first, and with at least 32 columns each block
  // of A's rows (gemm.c's packing); small ones read both in place. Either way every element is the same ordered sum.
  for (const [m, kk, n] of [[7, 300, 13], [37, 600, 13], [7, 300, 45], [37, 600, 45]] as const) {
    it(`gives ${m}×${kk}·${kk}×${n} the bits of an ordered f32 sum, copied into the scratch or read in place`, () => {
      const random = new Random(m + n);
      const x = uniform(random, m * kk), w = uniform(random, kk * n), dy = uniform(random, m * n);
      const { ptr, read } = place({ x, w, dy, y: m * n, dw: kk * n, pack: k.gemm_pack_floats(n) });
      k.gemm(ptr.y!, ptr.x!, kk, 1, ptr.w!, n, m, n, kk, ptr.pack!);
      k.gemm(ptr.dw!, ptr.x!, 1, kk, ptr.dy!, n, kk, n, m, ptr.pack!);
      expect(read('y')).toEqual(orderedProduct(x, kk, 1, w, m, n, kk));
      expect(read('dw')).toEqual(orderedProduct(x, 1, kk, dy, kk, n, m));
    });
  }
});

describe('window convolutions', () => {
  for (const [size, stride] of [[7, 1], [7, 2], [8, 2]] as const) {
    it(`depthwise 3×3 on ${size}×${size} at stride ${stride}: forward, input and filter gradients`, () => {
      const random = new Random(size * 10 + stride);
      // 24 channels: a block of 16, then two of 4 (MobileNet v1 α=0.75's first width).
      const [batch, channels] = [3, 24];
      const { out, before } = samePadding(size, 3, stride, 'same');
      const x = uniform(random, batch * size * size * channels), w = uniform(random, 9 * channels), dy = uniform(random, batch * out * out * channels);
      const { ptr, read } = place({ x, w, dy, y: dy.length, dx: x.length, dw: w.length, sums: batch * w.length });
      const window = [size, size, out, out, stride, before, before, channels] as const;
      const shape = [batch, ...window] as const;
      k.depthwise_forward(ptr.x!, ptr.w!, ptr.y!, ...shape);
      k.depthwise_backward_input(ptr.dy!, ptr.w!, ptr.dx!, ...shape);
      // The drawings' sums in two ranges, as threads split them (parallel.ts): [1, 3), then [0, 1).
      k.depthwise_filter_sums(ptr.x!, ptr.dy!, ptr.sums!, 1, batch, ...window);
      k.depthwise_filter_sums(ptr.x!, ptr.dy!, ptr.sums!, 0, 1, ...window);
      k.add_drawing_sums(ptr.sums!, ptr.dw!, batch, w.length);
      const xt = tf.tensor4d(x, [batch, size, size, channels]), wt = tf.tensor4d(w, [3, 3, channels, 1]), dyt = tf.tensor4d(dy, [batch, out, out, channels]);
      const f = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.depthwiseConv2d(a, b, stride, 'same');
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D).mul(dyt).sum())([xt, wt]);
      expect(relativeError(read('y'), f(xt, wt).dataSync())).toBeLessThan(TOLERANCE / 10);
      expect(relativeError(read('dx'), dx!.dataSync())).toBeLessThan(TOLERANCE / 10);
      expect(relativeError(read('dw'), dw!.dataSync())).toBeLessThan(TOLERANCE / 10);
      tf.dispose([xt, wt, dyt, dx!, dw!]);
    });
  }

  // 8 filters (α=0.25); 28 reach every path: a group of 16, then 8, then 4 forward, and 8 then 4 at a time backward.
  it.each([8, 28])('stem 3×3 from RGB at stride 2 on an odd size, %i filters: forward and filter gradient', (cout) => {
    const random = new Random(3);
    const [batch, size, stride] = [2, 9, 2];
    const { out, before } = samePadding(size, 3, stride, 'same');
    const x = uniform(random, batch * size * size * 3), w = uniform(random, 27 * cout), dy = uniform(random, batch * out * out * cout);
    const { ptr, read } = place({ x, w, dy, y: dy.length, dw: w.length, sums: batch * w.length });
    const window = [size, size, out, out, stride, before, before, cout] as const;
    const shape = [batch, ...window] as const;
    k.stem_forward(ptr.x!, ptr.w!, ptr.y!, ...shape);
    k.stem_filter_sums(ptr.x!, ptr.dy!, ptr.sums!, 1, batch, ...window);
    k.stem_filter_sums(ptr.x!, ptr.dy!, ptr.sums!, 0, 1, ...window);
    k.add_drawing_sums(ptr.sums!, ptr.dw!, batch, w.length);
    const xt = tf.tensor4d(x, [batch, size, size, 3]), wt = tf.tensor4d(w, [3, 3, 3, cout]), dyt = tf.tensor4d(dy, [batch, out, out, cout]);
    const [dw] = tf.grads((b: tf.Tensor) => tf.conv2d(xt, b as tf.Tensor4D, stride, 'same').mul(dyt).sum())([wt]);
    expect(relativeError(read('y'), tf.conv2d(xt, wt, stride, 'same').dataSync())).toBeLessThan(TOLERANCE / 10);
    expect(relativeError(read('dw'), dw!.dataSync())).toBeLessThan(TOLERANCE / 10);
    tf.dispose([xt, wt, dyt, dw!]);
  });
});

describe('BatchNormalization + ReLU6, or linear (v2)', () => {
  it.each([true, false])('normalizes with batch statistics, moves the averages and back-propagates as tfjs, on ReLU6\'s edges too (ReLU6: %s)', (relu6) => {
    const random = new Random(4);
    const [rows, channels, epsilon, momentum] = [300, 12, 1e-3, 0.9];
    const offsets = uniform(random, channels, 2), spreads = Float32Array.from({ length: channels }, () => 0.2 + random.next() * 3);
    const x = Float32Array.from({ length: rows * channels }, (_, i) => offsets[i % channels]! + spreads[i % channels]! * random.symmetric(1));
    // Large γ and β reach past 6 as well as below 0; γ = 0 with β = 0 or 6 puts every pre-activation exactly on
    // ReLU6's edges, where tf.relu6's gradient stops at 0 and passes at 6 (as in the WebGPU engine's norm test).
    const gamma = uniform(random, channels, 3), beta = uniform(random, channels, 1.5, 0.5), dy = uniform(random, rows * channels);
    gamma.set([0, 0]);
    beta.set([0, 6]);
    const movingMean = uniform(random, channels), movingVariance = uniform(random, channels, 0.5, 1);
    const { ptr, read } = place({ x, gamma, beta, dy, movingMean, movingVariance, y: x.length, dx: x.length, saved: 2 * channels, dGamma: channels, dBeta: channels, scratch: k.norm_scratch_floats(rows, channels) });
    k.norm_forward_training(ptr.x!, ptr.y!, ptr.gamma!, ptr.beta!, ptr.saved!, ptr.movingMean!, ptr.movingVariance!, ptr.scratch!, rows, channels, 1 - momentum, epsilon, Number(relu6));
    k.norm_backward(ptr.x!, ptr.dy!, ptr.gamma!, ptr.beta!, ptr.saved!, ptr.dx!, ptr.dGamma!, ptr.dBeta!, ptr.scratch!, rows, channels, Number(relu6));

    const [xt, gt, bt, dyt] = [tf.tensor2d(x, [rows, channels]), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor2d(dy, [rows, channels])];
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, 0);
      const normalized = tf.batchNorm(a, mean, variance, b, g, epsilon);
      return relu6 ? tf.relu6(normalized) : normalized;
    };
    const { mean, variance } = tf.moments(xt, 0);
    const [mm, mv] = [tf.tensor1d(movingMean), tf.tensor1d(movingVariance)];
    // tfjs-layers' update: moving − (moving − batch)·(1 − momentum).
    expect(relativeError(read('movingMean'), mm.sub(mm.sub(mean).mul(1 - momentum)).dataSync())).toBeLessThan(TOLERANCE);
    expect(relativeError(read('movingVariance'), mv.sub(mv.sub(variance).mul(1 - momentum)).dataSync())).toBeLessThan(TOLERANCE);
    expect(relativeError(read('y'), f(xt, gt, bt).dataSync())).toBeLessThan(TOLERANCE);
    const [dx, dg, db] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => f(a, g, b).mul(dyt).sum())([xt, gt, bt]);
    expect(relativeError(read('dBeta'), db!.dataSync())).toBeLessThan(TOLERANCE);
    expect(relativeError(read('dGamma'), dg!.dataSync())).toBeLessThan(TOLERANCE);
    expect(relativeError(read('dx'), dx!.dataSync())).toBeLessThan(TOLERANCE);
    tf.dispose([xt, gt, bt, dyt, mean, variance, mm, mv, dx!, dg!, db!]);
  });

  // norm.c's order, which every build and thread split must keep: each channel's rows summed in f32 in blocks of 64
  // rows, in order, the blocks added in double. 200 rows end in a short block, and the phases run on the blocks
  // [0, 1) and [1, 4) as two threads would (parallel.ts); 28 channels reach a full register group of each sum and
  // the single-vector tails.
  it('sums each channel\'s rows in the fixed order: f32 within 64-row blocks, the blocks in double', () => {
    const random = new Random(11);
    const [rows, channels, epsilon, block] = [200, 28, 1e-3, 64];
    const x = uniform(random, rows * channels, 2, 0.5), dy = uniform(random, rows * channels);
    const gamma = uniform(random, channels, 2, 1), beta = uniform(random, channels, 1, 1);
    const { ptr, read } = place({ x, dy, gamma, beta, y: x.length, dx: x.length, saved: 2 * channels, movingMean: channels, movingVariance: channels, dGamma: channels, dBeta: channels, scratch: k.norm_scratch_floats(rows, channels) });
    const split = [[0, 1], [1, 4]] as const;
    for (const center of [0, ptr.saved!]) {
      for (const [b0, b1] of split) k.norm_block_sums(ptr.x!, center, ptr.scratch!, rows, channels, b0, b1);
      if (center === 0) k.norm_mean(ptr.scratch!, ptr.saved!, rows, channels);
      else k.norm_variance(ptr.scratch!, ptr.saved!, ptr.movingMean!, ptr.movingVariance!, rows, channels, 0.1, epsilon);
    }
    for (const [b0, b1] of split) k.norm_grad_block_sums(ptr.x!, ptr.dy!, ptr.gamma!, ptr.beta!, ptr.saved!, ptr.scratch!, rows, channels, 1, b0, b1);
    k.norm_grad_totals(ptr.scratch!, ptr.gamma!, ptr.saved!, ptr.dGamma!, ptr.dBeta!, rows, channels);
    const f = Math.fround;
    /** Σ_r term(r) for one channel in norm.c's order. */
    const ordered = (term: (r: number) => number) => {
      let total = 0;
      for (let r0 = 0; r0 < rows; r0 += block) {
        let partial = 0;
        for (let r = r0; r < Math.min(rows, r0 + block); r++) partial = f(partial + term(r));
        total += partial;
      }
      return total;
    };
    const [saved, dBeta, dGamma] = [read('saved'), read('dBeta'), read('dGamma')];
    for (let c = 0; c < channels; c++) {
      const at = (r: number) => x[r * channels + c]!;
      const mean = f(ordered(at) / rows);
      const variance = f(ordered((r) => f(f(at(r) - mean) ** 2)) / rows);
      const scale = f(1 / f(Math.sqrt(f(variance + f(epsilon)))));
      const xh = (r: number) => f(f(at(r) - mean) * scale);
      const dz = (r: number) => {
        const z = f(f(gamma[c]! * xh(r)) + beta[c]!);
        return z > 0 && z <= 6 ? dy[r * channels + c]! : 0;
      };
      expect([saved[c], saved[channels + c]], `channel ${c}`).toEqual([mean, scale]);
      expect([dBeta[c], dGamma[c]], `channel ${c}`).toEqual([f(ordered(dz)), f(ordered((r) => f(dz(r) * xh(r))))]);
    }
  });

  it('keeps the statistics of activations far from zero (mean 1,000, spread 1) to f32 precision', () => {
    const [rows, channels] = [2048, 8];
    const x = uniform(new Random(7), rows * channels, 1, 1000);
    const { ptr, read } = place({
      x, gamma: new Float32Array(channels).fill(1), beta: channels, y: x.length, saved: 2 * channels, movingMean: channels, movingVariance: channels,
      scratch: k.norm_scratch_floats(rows, channels),
    });
    k.norm_forward_training(ptr.x!, ptr.y!, ptr.gamma!, ptr.beta!, ptr.saved!, ptr.movingMean!, ptr.movingVariance!, ptr.scratch!, rows, channels, 0.1, 1e-3, 1);
    const saved = read('saved');
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += x[r * channels + c]!;
      const mean = sum / rows;
      let squares = 0;
      for (let r = 0; r < rows; r++) squares += (x[r * channels + c]! - mean) ** 2;
      const invStd = 1 / Math.sqrt(squares / rows + 1e-3);
      expect(Math.abs(saved[c]! - mean) / mean).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(saved[channels + c]! - invStd) / invStd).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});

describe('element by element (v2 residual adds, the dense ReLU)', () => {
  it('adds, and passes the ReLU\'s gradient where its output is positive, through SIMD blocks and a scalar tail, in ranges', () => {
    const random = new Random(12);
    // 23 floats: five blocks of 4 and a tail of 3; exact zeros where tf.relu's gradient stops.
    const a = uniform(random, 23), b = uniform(random, 23), dy = uniform(random, 23);
    a.set([0, -0], 4);
    const { ptr, read } = place({ a, b, dy, sum: 23, relu: a, dx: 23 });
    for (const [i0, i1] of [[16, 23], [0, 16]] as const) {
      k.add_forward(ptr.a!, ptr.b!, ptr.sum!, i0, i1);
      k.relu_forward(ptr.relu!, i0, i1);
      k.relu_backward(ptr.dy!, ptr.relu!, ptr.dx!, i0, i1);
    }
    const [at, bt, dyt] = [tf.tensor1d(a), tf.tensor1d(b), tf.tensor1d(dy)];
    // Values compared with −0 read as 0 (tf's masked gradient is dy·0, signed).
    const values = (v: ArrayLike<number>) => Array.from(v, (x) => x + 0);
    expect(values(read('sum'))).toEqual(values(at.add(bt).dataSync()));
    expect(values(read('relu'))).toEqual(values(tf.relu(at).dataSync()));
    // tf.relu's gradient from its input; the kernel reads the output, positive exactly where the input is.
    const [dx] = tf.grads((x: tf.Tensor) => tf.relu(x).mul(dyt).sum())([at]);
    expect(values(read('dx'))).toEqual(values(dx!.dataSync()));
    expect(read('dx').filter((v) => v === 0).length).toBeGreaterThan(2);
    tf.dispose([at, bt, dyt, dx!]);
  });
});

describe('preprocess', () => {
  for (const inputSizePx of [28, 48, 96]) {
    it(`turns 28×28 bitmaps into mobilenet.ts's ${inputSizePx} px input, bit for bit`, () => {
      const count = 3;
      const bitmaps = sketches(count, new Random(inputSizePx));
      const outFloats = count * inputSizePx ** 2 * 3;
      const layout = new MemoryLayout(k);
      const [bitmapsAt, outAt] = [layout.floats(Math.ceil(bitmaps.length / 4)), layout.floats(outFloats)];
      layout.grow();
      new Uint8Array(k.memory.buffer, bitmapsAt, bitmaps.length).set(bitmaps);
      k.preprocess(bitmapsAt, outAt, count, 28, inputSizePx);
      const expected = preprocess(bitmaps, 28, inputSizePx);
      expect(new Float32Array(k.memory.buffer, outAt, outFloats).slice()).toEqual(expected.dataSync());
      expected.dispose();
    });
  }
});
