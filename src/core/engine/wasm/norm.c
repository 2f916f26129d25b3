// BatchNormalization fused with ReLU6 (or with nothing: `relu6` 0, MobileNet v2's linear projections) over NHWC
// activations seen as [rows = N·H·W, channels]: the training forward (batch mean and biased variance, moving
// averages moved in place as tfjs-layers moves them), the inference forward and the backward pass, with the
// arithmetic of norm.ts's WGSL. Each column sum runs in f32 over blocks of BLOCK_ROWS rows, in order, and the blocks'
// sums are added in double in block order, so a 36,864-row batch sums as precisely as tfjs's CPU backend.
// Threads split the rows in whole blocks (parallel.ts): the phases that read the activations (block sums, applying
// the normalization, the input gradient) take a range of blocks and write only their own blocks' partial sums or
// rows; the per-channel phases between them (totals, statistics) are small and run on one thread. Every sum keeps
// its order whatever the split, so any thread count gives the same bits.
#include "kernels.h"

#define BLOCK_ROWS 64

/** Rows a block of column sums covers (threads split the rows in whole blocks). */
EXPORT(norm_block_rows) int norm_block_rows(void) { return BLOCK_ROWS; }

INLINE int blocks_of(int rows) { return (rows + BLOCK_ROWS - 1) / BLOCK_ROWS; }

/**
 * Floats of scratch a normalization of `rows` × C needs: two f32 partial sums a block and channel, two double
 * totals a channel, and three per-channel factors of the backward pass.
 */
EXPORT(norm_scratch_floats) int norm_scratch_floats(int rows, int C) { return 2 * blocks_of(rows) * C + 7 * C; }

/** The scratch's parts: partials[b·C + c] (and a second set after them), then totals, then the factors. */
INLINE double *totals_of(float *scratch, int rows, int C) { return (double *)(scratch + 2 * blocks_of(rows) * C); }
INLINE float *factors_of(float *scratch, int rows, int C) { return scratch + 2 * blocks_of(rows) * C + 4 * C; }

/** Channels a group of column sums keeps in registers: 4 vectors of 4 (one cache line of a row). */
#define GROUP 16

/**
 * out[c] = Σ over rows [r0, r1) of x[r, c] (or of (x[r, c] − center[c])²) for the 4·V channels from c, in f32
 * registers, rows in order.
 */
INLINE void block_sums(int V, const float *x, const float *center, float *out, int r0, int r1, int C, int c) {
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
  for (int v = 0; v < V; v++) store4(out + c + 4 * v, acc[v]);
}

/**
 * partials[b·C + c] = Σ over block b's rows of x[r, c], or of (x[r, c] − center[c])² with `center`, for the blocks
 * [b0, b1) and every channel (a group of channels at a time in registers: summing into memory row after row made
 * each channel's sum wait on its own previous store).
 */
EXPORT(norm_block_sums) void norm_block_sums(const float *x, const float *center, float *partials, int rows, int C, int b0, int b1) {
  for (int b = b0; b < b1; b++) {
    const int r0 = b * BLOCK_ROWS, r1 = min_int(rows, r0 + BLOCK_ROWS);
    int c = 0;
    for (; c + GROUP <= C; c += GROUP) block_sums(GROUP / 4, x, center, partials + b * C, r0, r1, C, c);
    for (; c < C; c += 4) block_sums(1, x, center, partials + b * C, r0, r1, C, c);
  }
}

/** totals[c] = Σ_b partials[b·C + c] in double, blocks in order. */
static void add_blocks(const float *partials, double *totals, int blocks, int C) {
  for (int c = 0; c < C; c++) totals[c] = 0;
  for (int b = 0; b < blocks; b++)
    for (int c = 0; c < C; c++) totals[c] += partials[b * C + c];
}

/** saved[0..C) = μ, the batch mean, from norm_block_sums of x into the scratch. */
EXPORT(norm_mean) void norm_mean(float *scratch, float *saved, int rows, int C) {
  double *totals = totals_of(scratch, rows, C);
  add_blocks(scratch, totals, blocks_of(rows), C);
  for (int c = 0; c < C; c++) saved[c] = (float)(totals[c] / rows);
}

/**
 * saved[C..2C) = s = 1/√(σ² + ε) from norm_block_sums of (x − μ)² into the scratch, and the moving averages:
 * moving = moving − (moving − batch)·decay, decay = 1 − momentum.
 */
EXPORT(norm_variance) void norm_variance(float *scratch, float *saved, float *movingMean, float *movingVariance, int rows, int C, float decay, float epsilon) {
  double *totals = totals_of(scratch, rows, C);
  add_blocks(scratch, totals, blocks_of(rows), C);
  for (int c = 0; c < C; c++) {
    const float variance = (float)(totals[c] / rows);
    saved[C + c] = 1.0f / __builtin_sqrtf(variance + epsilon);
    movingMean[c] = movingMean[c] - (movingMean[c] - saved[c]) * decay;
    movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * decay;
  }
}

/** relu6(z), or z itself for a linear normalization. */
INLINE f4 activate(f4 z, int relu6) {
  return relu6 ? wasm_f32x4_min(wasm_f32x4_max(z, splat4(0.0f)), splat4(6.0f)) : z;
}

/** y = relu6(γ·((x − μ)·s) + β) (or without relu6) for the rows of blocks [b0, b1), from `saved`'s μ and s. */
EXPORT(norm_apply) void norm_apply(const float *x, float *y, const float *gamma, const float *beta, const float *saved, int rows, int C, int relu6, int b0, int b1) {
  const float *mean = saved, *scale = saved + C;
  for (int r = b0 * BLOCK_ROWS; r < min_int(rows, b1 * BLOCK_ROWS); r++)
    for (int c = 0; c < C; c += 4) {
      const f4 xh = wasm_f32x4_mul(wasm_f32x4_sub(load4(x + r * C + c), load4(mean + c)), load4(scale + c));
      const f4 z = wasm_f32x4_add(wasm_f32x4_mul(load4(gamma + c), xh), load4(beta + c));
      store4(y + r * C + c, activate(z, relu6));
    }
}

/**
 * The training forward on one thread: the batch's μ and s saved as saved[0..C) and saved[C..2C) for the backward
 * pass, the moving averages moved, y normalized. `scratch` holds norm_scratch_floats(rows, C) floats.
 */
EXPORT(norm_forward_training) void norm_forward_training(const float *x, float *y, const float *gamma, const float *beta, float *saved, float *movingMean, float *movingVariance, float *scratch, int rows, int C, float decay, float epsilon, int relu6) {
  const int blocks = blocks_of(rows);
  norm_block_sums(x, 0, scratch, rows, C, 0, blocks);
  norm_mean(scratch, saved, rows, C);
  norm_block_sums(x, saved, scratch, rows, C, 0, blocks);
  norm_variance(scratch, saved, movingMean, movingVariance, rows, C, decay, epsilon);
  norm_apply(x, y, gamma, beta, saved, rows, C, relu6, 0, blocks);
}

/** The same normalization with the moving statistics (prediction), on the channels [c0, c1). */
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

/** sumDz[c] = Σ dz and sumDzXh[c] = Σ dz·x̂ over rows [r0, r1) for the 4·V channels from c: as block_sums. */
INLINE void block_grad_sums(int V, const float *x, const float *dy, const float *gamma, const float *beta, const float *mean, const float *scale, float *sumDz, float *sumDzXh, int r0, int r1, int C, int c, int relu6) {
  f4 a[GRAD_GROUP / 4], ax[GRAD_GROUP / 4];
  for (int v = 0; v < V; v++) a[v] = ax[v] = splat4(0.0f);
  for (int r = r0; r < r1; r++)
    for (int v = 0; v < V; v++) {
      f4 xh;
      const f4 dz = masked(x, dy, gamma, beta, mean, scale, r * C + c + 4 * v, c + 4 * v, relu6, &xh);
      a[v] = wasm_f32x4_add(a[v], dz);
      ax[v] = wasm_f32x4_add(ax[v], wasm_f32x4_mul(dz, xh));
    }
  for (int v = 0; v < V; v++) {
    store4(sumDz + c + 4 * v, a[v]);
    store4(sumDzXh + c + 4 * v, ax[v]);
  }
}

/**
 * The backward pass's block sums for the blocks [b0, b1): Σ dz into the scratch's first partials and Σ dz·x̂ into
 * its second, from norm_forward_training's `saved` statistics.
 */
EXPORT(norm_grad_block_sums) void norm_grad_block_sums(const float *x, const float *dy, const float *gamma, const float *beta, const float *saved, float *scratch, int rows, int C, int relu6, int b0, int b1) {
  const float *mean = saved, *scale = saved + C;
  float *second = scratch + blocks_of(rows) * C;
  for (int b = b0; b < b1; b++) {
    const int r0 = b * BLOCK_ROWS, r1 = min_int(rows, r0 + BLOCK_ROWS);
    int c = 0;
    for (; c + GRAD_GROUP <= C; c += GRAD_GROUP) block_grad_sums(GRAD_GROUP / 4, x, dy, gamma, beta, mean, scale, scratch + b * C, second + b * C, r0, r1, C, c, relu6);
    for (; c < C; c += 4) block_grad_sums(1, x, dy, gamma, beta, mean, scale, scratch + b * C, second + b * C, r0, r1, C, c, relu6);
  }
}

/** dβ = Σdz and dγ = Σdz·x̂ from norm_grad_block_sums, and the per-channel factors of dx into the scratch. */
EXPORT(norm_grad_totals) void norm_grad_totals(float *scratch, const float *gamma, const float *saved, float *dGamma, float *dBeta, int rows, int C) {
  const int blocks = blocks_of(rows);
  double *totals = totals_of(scratch, rows, C);
  add_blocks(scratch, totals, blocks, C);
  add_blocks(scratch + blocks * C, totals + C, blocks, C);
  float *meanDz = factors_of(scratch, rows, C), *meanDzXh = meanDz + C, *gammaScale = meanDz + 2 * C;
  const float n = (float)rows;
  for (int c = 0; c < C; c++) {
    dBeta[c] = (float)totals[c];
    dGamma[c] = (float)totals[C + c];
    meanDz[c] = dBeta[c] / n;
    meanDzXh[c] = dGamma[c] / n;
    gammaScale[c] = gamma[c] * saved[C + c];
  }
}

/** dx = γ·s·(dz − dβ/rows − x̂·dγ/rows) for the rows of blocks [b0, b1), from norm_grad_totals' factors. dx must not
 * alias dy. */
EXPORT(norm_grad_apply) void norm_grad_apply(const float *x, const float *dy, const float *gamma, const float *beta, const float *saved, const float *scratch, float *dx, int rows, int C, int relu6, int b0, int b1) {
  const float *mean = saved, *scale = saved + C;
  const float *meanDz = factors_of((float *)scratch, rows, C), *meanDzXh = meanDz + C, *gammaScale = meanDz + 2 * C;
  for (int r = b0 * BLOCK_ROWS; r < min_int(rows, b1 * BLOCK_ROWS); r++)
    for (int c = 0; c < C; c += 4) {
      f4 xh;
      const f4 dz = masked(x, dy, gamma, beta, mean, scale, r * C + c, c, relu6, &xh);
      const f4 inner = wasm_f32x4_sub(wasm_f32x4_sub(dz, load4(meanDz + c)), wasm_f32x4_mul(xh, load4(meanDzXh + c)));
      store4(dx + r * C + c, wasm_f32x4_mul(load4(gammaScale + c), inner));
    }
}

/**
 * Backward of norm_forward_training on one thread, from its `saved` statistics: dβ = Σdz, dγ = Σdz·x̂, and
 * dx = γ·s·(dz − dβ/rows − x̂·dγ/rows). dx must not alias dy.
 */
EXPORT(norm_backward) void norm_backward(const float *x, const float *dy, const float *gamma, const float *beta, const float *saved, float *dx, float *dGamma, float *dBeta, float *scratch, int rows, int C, int relu6) {
  const int blocks = blocks_of(rows);
  norm_grad_block_sums(x, dy, gamma, beta, saved, scratch, rows, C, relu6, 0, blocks);
  norm_grad_totals(scratch, gamma, saved, dGamma, dBeta, rows, C);
  norm_grad_apply(x, dy, gamma, beta, saved, scratch, dx, rows, C, relu6, 0, blocks);
}
