// BatchNormalization fused with ReLU6 (or with nothing: `relu6` 0, MobileNet v2's linear projections) over NHWC
// activations seen as [rows = N·H·W, channels]: the training forward
// (batch mean and biased variance, moving averages moved in place as tfjs-layers moves them), the inference forward
// and the backward pass, with the arithmetic of norm.ts's WGSL. Column sums run in f32x4 registers over blocks of
// BLOCK_ROWS rows and are carried in double across blocks, so a 36,864-row batch sums as precisely as tfjs's CPU
// backend.
// Every kernel works on the channels [c0, c1) of C (multiples of 4): threads split the channels among them, and
// each channel's arithmetic is the same whatever the split.
#include "kernels.h"

#define BLOCK_ROWS 64

/** Floats of scratch the training forward and the backward pass need: two double totals a channel, and three
 * per-channel factors of the backward pass. */
EXPORT(norm_scratch_floats) int norm_scratch_floats(int C) { return 7 * C; }

/** totals[0..4) += the four lanes of v (each an f32 block sum, added in double). */
INLINE void add_lanes(double *totals, f4 v) {
  totals[0] += wasm_f32x4_extract_lane(v, 0);
  totals[1] += wasm_f32x4_extract_lane(v, 1);
  totals[2] += wasm_f32x4_extract_lane(v, 2);
  totals[3] += wasm_f32x4_extract_lane(v, 3);
}

/** Channels a group of column sums keeps in registers: 4 vectors of 4 (one cache line of a row). */
#define GROUP 16

/**
 * totals[c] += Σ over rows [r0, r1) of x[r, c] (or of (x[r, c] − center[c])²) for the 4·V channels from c: summed in
 * f32 registers, rows in order, then added to the double total, as one block of BLOCK_ROWS rows.
 */
INLINE void block_sums(int V, const float *x, const float *center, double *totals, int r0, int r1, int C, int c) {
  f4 acc[GROUP / 4], mu[GROUP / 4];
  for (int v = 0; v < V; v++) {
    acc[v] = splat4(0.0f);
    if (center) mu[v] = load4(center + c + 4 * v);
  }
  for (int r = r0; r < r1; r++)
    for (int v = 0; v < V; v++) {
      f4 t = load4(x + r * C + c + 4 * v);
      if (center) {
        t = wasm_f32x4_sub(t, mu[v]);
        t = wasm_f32x4_mul(t, t);
      }
      acc[v] = wasm_f32x4_add(acc[v], t);
    }
  for (int v = 0; v < V; v++) add_lanes(totals + c + 4 * v, acc[v]);
}

/**
 * totals[c] = Σ_r (x[r, c] − center[c])², or Σ_r x[r, c] without `center`, for c in [c0, c1): each block of
 * BLOCK_ROWS rows summed in f32 (in registers, a group of channels at a time: summing into memory row after row
 * made each channel's sum wait on its own previous store, which narrow layers felt most), the blocks in double.
 */
static void column_sums(const float *x, const float *center, double *totals, int rows, int C, int c0, int c1) {
  for (int c = c0; c < c1; c++) totals[c] = 0;
  for (int r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
    const int r1 = min_int(rows, r0 + BLOCK_ROWS);
    int c = c0;
    for (; c + GROUP <= c1; c += GROUP) block_sums(GROUP / 4, x, center, totals, r0, r1, C, c);
    for (; c < c1; c += 4) block_sums(1, x, center, totals, r0, r1, C, c);
  }
}

/** relu6(z), or z itself for a linear normalization. */
INLINE f4 activate(f4 z, int relu6) {
  return relu6 ? wasm_f32x4_min(wasm_f32x4_max(z, splat4(0.0f)), splat4(6.0f)) : z;
}

/**
 * y = relu6(γ·((x − μ)·s) + β) (or without relu6) with the batch's μ and s = 1/√(σ² + ε), saved as saved[0..C) = μ and
 * saved[C..2C) = s for the backward pass; moving = moving − (moving − batch)·decay, decay = 1 − momentum.
 */
EXPORT(norm_forward_training) void norm_forward_training(const float *x, float *y, const float *gamma, const float *beta, float *saved, float *movingMean, float *movingVariance, float *scratch, int rows, int C, float decay, float epsilon, int relu6, int c0, int c1) {
  double *totals = (double *)scratch;
  float *mean = saved, *scale = saved + C;
  column_sums(x, 0, totals, rows, C, c0, c1);
  for (int c = c0; c < c1; c++) mean[c] = (float)(totals[c] / rows);
  column_sums(x, mean, totals, rows, C, c0, c1);
  for (int c = c0; c < c1; c++) {
    const float variance = (float)(totals[c] / rows);
    scale[c] = 1.0f / __builtin_sqrtf(variance + epsilon);
    movingMean[c] = movingMean[c] - (movingMean[c] - mean[c]) * decay;
    movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * decay;
  }
  for (int r = 0; r < rows; r++)
    for (int c = c0; c < c1; c += 4) {
      const f4 xh = wasm_f32x4_mul(wasm_f32x4_sub(load4(x + r * C + c), load4(mean + c)), load4(scale + c));
      const f4 z = wasm_f32x4_add(wasm_f32x4_mul(load4(gamma + c), xh), load4(beta + c));
      store4(y + r * C + c, activate(z, relu6));
    }
}

/** The same normalization with the moving statistics (prediction). */
EXPORT(norm_forward_inference) void norm_forward_inference(const float *x, float *y, const float *gamma, const float *beta, const float *movingMean, const float *movingVariance, int rows, int C, float epsilon, int relu6, int c0, int c1) {
  const f4 one = splat4(1.0f), eps = splat4(epsilon);
  for (int c = c0; c < c1; c += 4) {
    const f4 mean = load4(movingMean + c), g = load4(gamma + c), b = load4(beta + c);
    const f4 scale = wasm_f32x4_div(one, wasm_f32x4_sqrt(wasm_f32x4_add(load4(movingVariance + c), eps)));
    for (int r = 0; r < rows; r++) {
      const f4 z = wasm_f32x4_add(wasm_f32x4_mul(g, wasm_f32x4_mul(wasm_f32x4_sub(load4(x + r * C + c), mean), scale)), b);
      store4(y + r * C + c, activate(z, relu6));
    }
  }
}

/** x̂ and the ReLU6-masked dz of one row block: tf.relu6's gradient passes where 0 < z ≤ 6 (all of dy, linear). */
INLINE f4 masked(const float *x, const float *dy, const float *gamma, const float *beta, const float *mean, const float *scale, int i, int c, int relu6, f4 *xh) {
  *xh = wasm_f32x4_mul(wasm_f32x4_sub(load4(x + i), load4(mean + c)), load4(scale + c));
  if (!relu6) return load4(dy + i);
  const f4 z = wasm_f32x4_add(wasm_f32x4_mul(load4(gamma + c), *xh), load4(beta + c));
  const v128_t pass = wasm_v128_and(wasm_f32x4_gt(z, splat4(0.0f)), wasm_f32x4_le(z, splat4(6.0f)));
  return wasm_v128_and(load4(dy + i), pass);
}

/** Channels a group of the backward pass's two sums keeps in registers (with its per-channel factors). */
#define GRAD_GROUP 8

/**
 * totals[c] += Σ dz and totals[C + c] += Σ dz·x̂ over rows [r0, r1), for the 4·V channels from c: as block_sums, in
 * registers, rows in order.
 */
INLINE void block_grad_sums(int V, const float *x, const float *dy, const float *gamma, const float *beta, const float *mean, const float *scale, double *totals, int r0, int r1, int C, int c, int relu6) {
  f4 sumDz[GRAD_GROUP / 4], sumDzXh[GRAD_GROUP / 4];
  for (int v = 0; v < V; v++) sumDz[v] = sumDzXh[v] = splat4(0.0f);
  for (int r = r0; r < r1; r++)
    for (int v = 0; v < V; v++) {
      f4 xh;
      const f4 dz = masked(x, dy, gamma, beta, mean, scale, r * C + c + 4 * v, c + 4 * v, relu6, &xh);
      sumDz[v] = wasm_f32x4_add(sumDz[v], dz);
      sumDzXh[v] = wasm_f32x4_add(sumDzXh[v], wasm_f32x4_mul(dz, xh));
    }
  for (int v = 0; v < V; v++) {
    add_lanes(totals + c + 4 * v, sumDz[v]);
    add_lanes(totals + C + c + 4 * v, sumDzXh[v]);
  }
}

/**
 * Backward of norm_forward_training from its `saved` statistics: dβ = Σdz, dγ = Σdz·x̂, and
 * dx = γ·s·(dz − dβ/rows − x̂·dγ/rows). dx must not alias dy.
 */
EXPORT(norm_backward) void norm_backward(const float *x, const float *dy, const float *gamma, const float *beta, const float *saved, float *dx, float *dGamma, float *dBeta, float *scratch, int rows, int C, int relu6, int c0, int c1) {
  const float *mean = saved, *scale = saved + C;
  double *totals = (double *)scratch;
  for (int c = c0; c < c1; c++) totals[c] = totals[C + c] = 0;
  for (int r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
    const int r1 = min_int(rows, r0 + BLOCK_ROWS);
    int c = c0;
    for (; c + GRAD_GROUP <= c1; c += GRAD_GROUP) block_grad_sums(GRAD_GROUP / 4, x, dy, gamma, beta, mean, scale, totals, r0, r1, C, c, relu6);
    for (; c < c1; c += 4) block_grad_sums(1, x, dy, gamma, beta, mean, scale, totals, r0, r1, C, c, relu6);
  }
  for (int c = c0; c < c1; c++) {
    dBeta[c] = (float)totals[c];
    dGamma[c] = (float)totals[C + c];
  }
  // The per-channel factors of dx, computed once (the divisions would otherwise run for every row), in scratch of
  // their own (threads on other channels may still be summing).
  float *meanDz = scratch + 4 * C, *meanDzXh = scratch + 5 * C, *gammaScale = scratch + 6 * C;
  const f4 n = splat4((float)rows);
  for (int c = c0; c < c1; c += 4) {
    store4(meanDz + c, wasm_f32x4_div(load4(dBeta + c), n));
    store4(meanDzXh + c, wasm_f32x4_div(load4(dGamma + c), n));
    store4(gammaScale + c, wasm_f32x4_mul(load4(gamma + c), load4(scale + c)));
  }
  for (int r = 0; r < rows; r++)
    for (int c = c0; c < c1; c += 4) {
      f4 xh;
      const f4 dz = masked(x, dy, gamma, beta, mean, scale, r * C + c, c, relu6, &xh);
      const f4 inner = wasm_f32x4_sub(wasm_f32x4_sub(dz, load4(meanDz + c)), wasm_f32x4_mul(xh, load4(meanDzXh + c)));
      store4(dx + r * C + c, wasm_f32x4_mul(load4(gammaScale + c), inner));
    }
}
