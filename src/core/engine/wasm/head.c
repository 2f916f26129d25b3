// The head and the rest of a step: preprocessing of stored bitmaps into the network's input, global average
// pooling (forward, backward) and tf.train.adam's update over the one flat parameter buffer. Softmax cross-entropy
// over a few classes is taken in trainer.ts. Single thread.
#include "kernels.h"

/**
 * count square uint8 bitmaps (inSize²) → count × outSize × outSize × 3 floats in [-1, 1]: tfjs-backend-cpu's
 * ResizeBilinear with aligned corners (source = ratio·r, ratio = (in − 1)/(out − 1), floor and clamped ceil, top
 * and bottom lerps, all in double, stored as f32), then v/127.5 − 1 in f32, as mobilenet.ts's preprocess.
 */
EXPORT(preprocess) void preprocess(const uint8_t *bitmaps, float *out, int count, int inSize, int outSize) {
  const double ratio = outSize > 1 ? (double)(inSize - 1) / (outSize - 1) : 0;
  // Each output column's source columns and weight, the same for every row and drawing.
  int x0s[outSize], x1s[outSize];
  double dxs[outSize];
  for (int x = 0; x < outSize; x++) {
    const double fx = ratio * x;
    x0s[x] = (int)__builtin_floor(fx);
    x1s[x] = min_int(inSize - 1, (int)__builtin_ceil(fx));
    dxs[x] = fx - x0s[x];
  }
  for (int n = 0; n < count; n++) {
    const uint8_t *image = bitmaps + n * inSize * inSize;
    for (int y = 0; y < outSize; y++) {
      const double fy = ratio * y;
      const int y0 = (int)__builtin_floor(fy), y1 = min_int(inSize - 1, (int)__builtin_ceil(fy));
      const double dy = fy - y0;
      const uint8_t *top_row = image + y0 * inSize, *bottom_row = image + y1 * inSize;
      float *o = out + (n * outSize + y) * outSize * 3;
      for (int x = 0; x < outSize; x++, o += 3) {
        float v;
        if (inSize == outSize) {
          v = image[y * inSize + x];
        } else {
          const double tl = top_row[x0s[x]], tr = top_row[x1s[x]], bl = bottom_row[x0s[x]], br = bottom_row[x1s[x]];
          const double top = tl + (tr - tl) * dxs[x], bottom = bl + (br - bl) * dxs[x];
          v = (float)(top + (bottom - top) * dy);
        }
        const float scaled = v / 127.5f - 1.0f;
        o[0] = o[1] = o[2] = scaled;
      }
    }
  }
}

/** y[n, c] = mean over positions of x[n, q, c]. */
EXPORT(pool_forward) void pool_forward(const float *x, float *y, int batch, int positions, int C) {
  const f4 count = splat4((float)positions);
  for (int n = 0; n < batch; n++)
    for (int c = 0; c < C; c += 4) {
      f4 s = splat4(0.0f);
      for (int q = 0; q < positions; q++) s = wasm_f32x4_add(s, load4(x + (n * positions + q) * C + c));
      store4(y + n * C + c, wasm_f32x4_div(s, count));
    }
}

/** dx[n, q, c] = dy[n, c] / positions. */
EXPORT(pool_backward) void pool_backward(const float *dy, float *dx, int batch, int positions, int C) {
  const f4 count = splat4((float)positions);
  for (int n = 0; n < batch; n++)
    for (int c = 0; c < C; c += 4) {
      const f4 g = wasm_f32x4_div(load4(dy + n * C + c), count);
      for (int q = 0; q < positions; q++) store4(dx + (n * positions + q) * C + c, g);
    }
}

/**
 * One Adam update in place over `count` floats (a multiple of 4), in the statement order of tfjs-core's
 * AdamOptimizer (head.ts's adamStep): m and v move by (1 − β), the bias corrections divide by 1 − β^t, ε is added
 * to √v̂, and the step is added as (m̂/(√v̂ + ε))·(−lr) + θ. The coefficients come from head.ts's adamCoefficients.
 */
EXPORT(adam) void adam(float *params, const float *grads, float *m, float *v, int count, float learningRate, float beta1, float beta2, float oneMinusBeta1, float oneMinusBeta2, float epsilon, float oneMinusAccBeta1, float oneMinusAccBeta2) {
  const f4 b1 = splat4(beta1), b2 = splat4(beta2), c1 = splat4(oneMinusBeta1), c2 = splat4(oneMinusBeta2);
  const f4 eps = splat4(epsilon), a1 = splat4(oneMinusAccBeta1), a2 = splat4(oneMinusAccBeta2), lr = splat4(-learningRate);
  for (int i = 0; i < count; i += 4) {
    const f4 g = load4(grads + i);
    const f4 m1 = wasm_f32x4_add(wasm_f32x4_mul(load4(m + i), b1), wasm_f32x4_mul(g, c1));
    const f4 v1 = wasm_f32x4_add(wasm_f32x4_mul(load4(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(g, g), c2));
    store4(m + i, m1);
    store4(v + i, v1);
    const f4 mHat = wasm_f32x4_div(m1, a1), vHat = wasm_f32x4_div(v1, a2);
    const f4 step = wasm_f32x4_div(mHat, wasm_f32x4_add(wasm_f32x4_sqrt(vHat), eps));
    store4(params + i, wasm_f32x4_add(wasm_f32x4_mul(step, lr), load4(params + i)));
  }
}
