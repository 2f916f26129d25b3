// BatchNormalization fused with ReLU6 (or with nothing: `relu6` 0, MobileNet v2's linear projections) over NHWC
// activations seen as [rows = N·H·W, channels]: the training forward
// (batch mean and biased variance, moving averages moved in place as tfjs-layers moves them), the inference forward
// and the backward pass, with the arithmetic of norm.ts's WGSL. Column sums run in f32x4 over blocks of BLOCK_ROWS
// rows and are carried in double across blocks, so a 36,864-row batch sums as precisely as tfjs's CPU backend.
// Every kernel works on the channels [c0, c1) of C (multiples of 4): threads split the channels among them, and
// each channel's arithmetic is the same whatever the split.
#include "kernels.h"

#define BLOCK_ROWS 64

/** Floats of scratch the training forward and the backward pass need: two f32 partials and two double totals a
 * channel, and three per-channel factors of the backward pass. */
EXPORT(norm_scratch_floats) int norm_scratch_floats(int C) { return 9 * C; }

/** totals[c] += partial[c] (double), then partial = 0, for c in [c0, c1). */
INLINE void flush(float *partial, double *totals, int c0, int c1) {
  for (int c = c0; c < c1; c++) totals[c] += partial[c];
  zero_floats(partial + c0, c1 - c0);
}

/** totals[c] = Σ_r (x[r, c] − center[c])², or Σ_r x[r, c] without `center`, for c in [c0, c1). */
static void column_sums(const float *x, const float *center, float *partial, double *totals, int rows, int C, int c0, int c1) {
  zero_floats(partial + c0, c1 - c0);
  for (int c = c0; c < c1; c++) totals[c] = 0;
  for (int r = 0; r < rows; r++) {
    const float *row = x + r * C;
    for (int c = c0; c < c1; c += 4) {
      f4 v = load4(row + c);
      if (center) {
        v = wasm_f32x4_sub(v, load4(center + c));
        v = wasm_f32x4_mul(v, v);
      }
      store4(partial + c, wasm_f32x4_add(load4(partial + c), v));
    }
    if ((r + 1) % BLOCK_ROWS == 0) flush(partial, totals, c0, c1);
  }
  flush(partial, totals, c0, c1);
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
  float *partial = scratch;
  double *totals = (double *)(scratch + 2 * C);
  float *mean = saved, *scale = saved + C;
  column_sums(x, 0, partial, totals, rows, C, c0, c1);
  for (int c = c0; c < c1; c++) mean[c] = (float)(totals[c] / rows);
  column_sums(x, mean, partial, totals, rows, C, c0, c1);
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

/**
 * Backward of norm_forward_training from its `saved` statistics: dβ = Σdz, dγ = Σdz·x̂, and
 * dx = γ·s·(dz − dβ/rows − x̂·dγ/rows). dx must not alias dy.
 */
EXPORT(norm_backward) void norm_backward(const float *x, const float *dy, const float *gamma, const float *beta, const float *saved, float *dx, float *dGamma, float *dBeta, float *scratch, int rows, int C, int relu6, int c0, int c1) {
  const float *mean = saved, *scale = saved + C;
  float *partial = scratch;
  double *totals = (double *)(scratch + 2 * C);
  zero_floats(partial + c0, c1 - c0);
  zero_floats(partial + C + c0, c1 - c0);
  for (int c = c0; c < c1; c++) totals[c] = totals[C + c] = 0;
  for (int r = 0; r < rows; r++) {
    for (int c = c0; c < c1; c += 4) {
      f4 xh;
      const f4 dz = masked(x, dy, gamma, beta, mean, scale, r * C + c, c, relu6, &xh);
      store4(partial + c, wasm_f32x4_add(load4(partial + c), dz));
      store4(partial + C + c, wasm_f32x4_add(load4(partial + C + c), wasm_f32x4_mul(dz, xh)));
    }
    if ((r + 1) % BLOCK_ROWS == 0) {
      flush(partial, totals, c0, c1);
      flush(partial, totals, C + c0, C + c1);
    }
  }
  flush(partial, totals, c0, c1);
  flush(partial, totals, C + c0, C + c1);
  for (int c = c0; c < c1; c++) {
    dBeta[c] = (float)totals[c];
    dGamma[c] = (float)totals[C + c];
  }
  // The per-channel factors of dx, computed once (the divisions would otherwise run for every row), in scratch of
  // their own (threads on other channels may still be summing).
  float *meanDz = scratch + 6 * C, *meanDzXh = scratch + 7 * C, *gammaScale = scratch + 8 * C;
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
