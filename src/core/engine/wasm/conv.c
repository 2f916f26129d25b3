// MobileNet v1's 3×3 window convolutions over NHWC activations: the stem (3 input channels, any stride) forward
// and filter gradient, and the depthwise layer (stride 1 or 2) forward, input and filter gradients. Padding is
// explicit (padTop, padLeft; taps past either edge read zero), as plan.ts computes TensorFlow's 'same'. Channel
// counts are multiples of 4 (trainer.ts checks). Filter gradients sum one drawing at a time into `scratch` and add
// that to the total, which keeps f32 rounding near tfjs's double sums.
#include "kernels.h"

/** The taps of output row/column `o` that land inside the input: [*first, *last) of 0..3. */
INLINE void taps(int o, int stride, int pad, int size, int *first, int *last, int *origin) {
  const int at = o * stride - pad;
  *origin = at;
  *first = max_int(0, -at);
  *last = min_int(3, size - at);
}

/** y[n, oh, ow, co] = Σ over the 3×3×3 window of x · w[kh, kw, ci, co]. */
EXPORT(stem_forward) void stem_forward(const float *x, const float *w, float *y, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int cout) {
  for (int n = 0; n < batch; n++)
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        float *out = y + ((n * outH + oh) * outW + ow) * cout;
        for (int co = 0; co < cout; co += 4) {
          f4 acc = splat4(0.0f);
          for (int kh = kh0; kh < kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++) {
              const float *in = x + ((n * inH + ih0 + kh) * inW + iw0 + kw) * 3;
              const float *f = w + (kh * 3 + kw) * 3 * cout + co;
              acc = madd(acc, splat_at(in), load4(f));
              acc = madd(acc, splat_at(in + 1), load4(f + cout));
              acc = madd(acc, splat_at(in + 2), load4(f + 2 * cout));
            }
          store4(out + co, acc);
        }
      }
    }
}

/** dw[kh, kw, ci, co] = Σ x · dy over every output position; `scratch` holds 27·cout floats. */
EXPORT(stem_backward_filter) void stem_backward_filter(const float *x, const float *dy, float *dw, float *scratch, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int cout) {
  const int length = 27 * cout;
  zero_floats(dw, length);
  for (int n = 0; n < batch; n++) {
    zero_floats(scratch, length);
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        const float *g = dy + ((n * outH + oh) * outW + ow) * cout;
        for (int kh = kh0; kh < kh1; kh++)
          for (int kw = kw0; kw < kw1; kw++) {
            const float *in = x + ((n * inH + ih0 + kh) * inW + iw0 + kw) * 3;
            float *f = scratch + (kh * 3 + kw) * 3 * cout;
            for (int ci = 0; ci < 3; ci++) {
              const f4 a = splat_at(in + ci);
              for (int co = 0; co < cout; co += 4) store4(f + ci * cout + co, madd(load4(f + ci * cout + co), a, load4(g + co)));
            }
          }
      }
    }
    for (int i = 0; i < length; i += 4) store4(dw + i, wasm_f32x4_add(load4(dw + i), load4(scratch + i)));
  }
}

/** y[n, oh, ow, c] = Σ over the 3×3 window of x[…, c] · w[kh, kw, c]. */
EXPORT(depthwise_forward) void depthwise_forward(const float *x, const float *w, float *y, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  for (int n = 0; n < batch; n++)
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        float *out = y + ((n * outH + oh) * outW + ow) * C;
        const float *base = x + ((n * inH + ih0) * inW + iw0) * C;
        int c = 0;
        for (; c + 16 <= C; c += 16) {
          f4 a0 = splat4(0.0f), a1 = a0, a2 = a0, a3 = a0;
          for (int kh = kh0; kh < kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++) {
              const float *in = base + (kh * inW + kw) * C + c, *f = w + (kh * 3 + kw) * C + c;
              a0 = madd(a0, load4(in), load4(f));
              a1 = madd(a1, load4(in + 4), load4(f + 4));
              a2 = madd(a2, load4(in + 8), load4(f + 8));
              a3 = madd(a3, load4(in + 12), load4(f + 12));
            }
          store4(out + c, a0);
          store4(out + c + 4, a1);
          store4(out + c + 8, a2);
          store4(out + c + 12, a3);
        }
        for (; c < C; c += 4) {
          f4 a = splat4(0.0f);
          for (int kh = kh0; kh < kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++) a = madd(a, load4(base + (kh * inW + kw) * C + c), load4(w + (kh * 3 + kw) * C + c));
          store4(out + c, a);
        }
      }
    }
}

/** dx = the transposed window product: each output's dy[…, c]·w[kh, kw, c] added to the input it read. */
EXPORT(depthwise_backward_input) void depthwise_backward_input(const float *dy, const float *w, float *dx, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  zero_floats(dx, batch * inH * inW * C);
  for (int n = 0; n < batch; n++)
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        const float *g = dy + ((n * outH + oh) * outW + ow) * C;
        float *base = dx + ((n * inH + ih0) * inW + iw0) * C;
        for (int kh = kh0; kh < kh1; kh++)
          for (int kw = kw0; kw < kw1; kw++) {
            float *in = base + (kh * inW + kw) * C;
            const float *f = w + (kh * 3 + kw) * C;
            for (int c = 0; c < C; c += 4) store4(in + c, madd(load4(in + c), load4(g + c), load4(f + c)));
          }
      }
    }
}

/** dw[kh, kw, c] = Σ x · dy over every output position; `scratch` holds 9·C floats. */
EXPORT(depthwise_backward_filter) void depthwise_backward_filter(const float *x, const float *dy, float *dw, float *scratch, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  const int length = 9 * C;
  zero_floats(dw, length);
  for (int n = 0; n < batch; n++) {
    zero_floats(scratch, length);
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        const float *g = dy + ((n * outH + oh) * outW + ow) * C;
        const float *base = x + ((n * inH + ih0) * inW + iw0) * C;
        for (int kh = kh0; kh < kh1; kh++)
          for (int kw = kw0; kw < kw1; kw++) {
            const float *in = base + (kh * inW + kw) * C;
            float *f = scratch + (kh * 3 + kw) * C;
            for (int c = 0; c < C; c += 4) store4(f + c, madd(load4(f + c), load4(in + c), load4(g + c)));
          }
      }
    }
    for (int i = 0; i < length; i += 4) store4(dw + i, wasm_f32x4_add(load4(dw + i), load4(scratch + i)));
  }
}
