// MobileNet v1's 3×3 window convolutions over NHWC activations: the stem (3 input channels, any stride) forward
// and filter gradient, and the depthwise layer (stride 1 or 2) forward, input and filter gradients. Padding is
// explicit (padTop, padLeft; taps past either edge read zero), as plan.ts computes TensorFlow's 'same'. Channel
// counts are multiples of 4 (trainer.ts checks). Filter gradients sum one drawing at a time in registers into a
// sum of its own, and add_drawing_sums adds those in drawing order, which keeps f32 rounding near tfjs's double sums.
// Threads split every kernel here by drawings, each drawing's arithmetic the same whatever the split.
#include "kernels.h"

/** The taps of output row/column `o` that land inside the input: [*first, *last) of 0..3. */
INLINE void taps(int o, int stride, int pad, int size, int *first, int *last, int *origin) {
  const int at = o * stride - pad;
  *origin = at;
  *first = max_int(0, -at);
  *last = min_int(3, size - at);
}

/** The outputs o in [*first, *last) whose tap k reads inside the input: 0 ≤ o·stride − pad + k < size. */
INLINE void tap_outputs(int k, int stride, int pad, int size, int outSize, int *first, int *last) {
  const int lo = pad - k, hi = size - 1 + pad - k;
  *first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  *last = hi < 0 ? 0 : min_int(outSize, hi / stride + 1);
}

/** One output position's V vectors of filters from co: Σ over the window's taps and 3 input channels, in that order. */
INLINE void stem_window(int V, const float *x, const float *w, float *out, int inW, int cout, int co, int kh0, int kh1, int kw0, int kw1) {
  f4 acc[4];
  for (int v = 0; v < V; v++) acc[v] = splat4(0.0f);
  for (int kh = kh0; kh < kh1; kh++)
    for (int kw = kw0; kw < kw1; kw++) {
      const float *in = x + (kh * inW + kw) * 3;
      const float *f = w + (kh * 3 + kw) * 3 * cout + co;
      const f4 r = splat_at(in), g = splat_at(in + 1), b = splat_at(in + 2);
      for (int v = 0; v < V; v++) {
        acc[v] = madd(acc[v], r, load4(f + 4 * v));
        acc[v] = madd(acc[v], g, load4(f + cout + 4 * v));
        acc[v] = madd(acc[v], b, load4(f + 2 * cout + 4 * v));
      }
    }
  for (int v = 0; v < V; v++) store4(out + co + 4 * v, acc[v]);
}

/**
 * y[n, oh, ow, co] = Σ over the 3×3×3 window of x · w[kh, kw, ci, co], up to 16 filters at a time: their sums are
 * independent, so they run side by side instead of each waiting on its own previous addition.
 */
EXPORT(stem_forward) void stem_forward(const float *x, const float *w, float *y, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int cout) {
  for (int n = 0; n < batch; n++)
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        float *out = y + ((n * outH + oh) * outW + ow) * cout;
        const float *in = x + ((n * inH + ih0) * inW + iw0) * 3;
        int co = 0;
        for (; co + 16 <= cout; co += 16) stem_window(4, in, w, out, inW, cout, co, kh0, kh1, kw0, kw1);
        if (co + 8 <= cout) {
          stem_window(2, in, w, out, inW, cout, co, kh0, kh1, kw0, kw1);
          co += 8;
        }
        if (co < cout) stem_window(1, in, w, out, inW, cout, co, kh0, kh1, kw0, kw1);
      }
    }
}

/** sums[kh, kw, ·, co..co + 4V) = one drawing's Σ x · dy over the tap's outputs, three input channels × V vectors of
 * filters in registers. */
INLINE void stem_tap_sums(int V, const float *x, const float *dy, float *sums, int n, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int cout, int co, int kh, int kw, int oh0, int oh1, int ow0, int ow1) {
  f4 a[2][3];
  for (int v = 0; v < V; v++) a[v][0] = a[v][1] = a[v][2] = splat4(0.0f);
  for (int oh = oh0; oh < oh1; oh++) {
    const float *in = x + ((n * inH + oh * stride - padTop + kh) * inW + ow0 * stride - padLeft + kw) * 3;
    const float *g = dy + ((n * outH + oh) * outW + ow0) * cout + co;
    for (int ow = ow0; ow < ow1; ow++, in += 3 * stride, g += cout) {
      const f4 r = splat_at(in), gr = splat_at(in + 1), b = splat_at(in + 2);
      for (int v = 0; v < V; v++) {
        const f4 d = load4(g + 4 * v);
        a[v][0] = madd(a[v][0], r, d);
        a[v][1] = madd(a[v][1], gr, d);
        a[v][2] = madd(a[v][2], b, d);
      }
    }
  }
  float *f = sums + (kh * 3 + kw) * 3 * cout + co;
  for (int v = 0; v < V; v++)
    for (int ci = 0; ci < 3; ci++) store4(f + ci * cout + 4 * v, a[v][ci]);
}

/**
 * The stem's filter gradient, drawing by drawing: sums[n, kh, kw, ci, co] = Σ x · dy over drawing n's output positions
 * for the drawings [n0, n1), one tap and eight (or four) filters at a time in registers; add_drawing_sums then adds
 * the drawings' sums in order (threads split the drawings).
 */
EXPORT(stem_filter_sums) void stem_filter_sums(const float *x, const float *dy, float *sums, int n0, int n1, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int cout) {
  for (int n = n0; n < n1; n++)
    for (int kh = 0; kh < 3; kh++) {
      int oh0, oh1;
      tap_outputs(kh, stride, padTop, inH, outH, &oh0, &oh1);
      for (int kw = 0; kw < 3; kw++) {
        int ow0, ow1;
        tap_outputs(kw, stride, padLeft, inW, outW, &ow0, &ow1);
        float *drawing = sums + n * 27 * cout;
        int co = 0;
        for (; co + 8 <= cout; co += 8) stem_tap_sums(2, x, dy, drawing, n, inH, inW, outH, outW, stride, padTop, padLeft, cout, co, kh, kw, oh0, oh1, ow0, ow1);
        if (co < cout) stem_tap_sums(1, x, dy, drawing, n, inH, inW, outH, outW, stride, padTop, padLeft, cout, co, kh, kw, oh0, oh1, ow0, ow1);
      }
    }
}

/**
 * y[n, oh, ow, c] = Σ over the 3×3 window of x[…, c] · w[kh, kw, c], the taps summed row by row of the window.
 * Channels in groups of 16 go output by output, each tap's filter loaded beside its input; the channels past the
 * last group (all of them where C < 16) go four at a time along the whole output row with their nine filter vectors
 * in registers, which made C = 8 3.4–4 times and C = 24 1.5–1.7 times faster than running them output by output.
 */
EXPORT(depthwise_forward) void depthwise_forward(const float *x, const float *w, float *y, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  const int C16 = C / 16 * 16;
  for (int n = 0; n < batch; n++)
    for (int oh = 0; oh < outH; oh++) {
      int kh0, kh1, ih0;
      taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
      const float *row = x + (n * inH + ih0) * inW * C;
      float *out = y + (n * outH + oh) * outW * C;
      for (int ow = 0; ow < outW; ow++) {
        int kw0, kw1, iw0;
        taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
        const float *base = row + iw0 * C;
        for (int c = 0; c < C16; c += 16) {
          f4 a0 = splat4(0.0f), a1 = a0, a2 = a0, a3 = a0;
          for (int kh = kh0; kh < kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++) {
              const float *in = base + (kh * inW + kw) * C + c, *f = w + (kh * 3 + kw) * C + c;
              a0 = madd(a0, load4(in), load4(f));
              a1 = madd(a1, load4(in + 4), load4(f + 4));
              a2 = madd(a2, load4(in + 8), load4(f + 8));
              a3 = madd(a3, load4(in + 12), load4(f + 12));
            }
          store4(out + ow * C + c, a0);
          store4(out + ow * C + c + 4, a1);
          store4(out + ow * C + c + 8, a2);
          store4(out + ow * C + c + 12, a3);
        }
      }
      for (int c = C16; c < C; c += 4) {
        const f4 w0 = load4(w + c), w1 = load4(w + C + c), w2 = load4(w + 2 * C + c), w3 = load4(w + 3 * C + c),
          w4 = load4(w + 4 * C + c), w5 = load4(w + 5 * C + c), w6 = load4(w + 6 * C + c), w7 = load4(w + 7 * C + c),
          w8 = load4(w + 8 * C + c);
        for (int ow = 0; ow < outW; ow++) {
          int kw0, kw1, iw0;
          taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
          const float *in = row + iw0 * C + c;
          f4 a = splat4(0.0f);
          if (kh0 == 0 && kh1 == 3 && kw0 == 0 && kw1 == 3) {
            const float *r1 = in + inW * C, *r2 = in + 2 * inW * C;
            a = madd(a, load4(in), w0);
            a = madd(a, load4(in + C), w1);
            a = madd(a, load4(in + 2 * C), w2);
            a = madd(a, load4(r1), w3);
            a = madd(a, load4(r1 + C), w4);
            a = madd(a, load4(r1 + 2 * C), w5);
            a = madd(a, load4(r2), w6);
            a = madd(a, load4(r2 + C), w7);
            a = madd(a, load4(r2 + 2 * C), w8);
          } else {
            for (int kh = kh0; kh < kh1; kh++)
              for (int kw = kw0; kw < kw1; kw++) a = madd(a, load4(in + (kh * inW + kw) * C), load4(w + (kh * 3 + kw) * C + c));
          }
          store4(out + ow * C + c, a);
        }
      }
    }
}

/** The taps k (and the outputs o they come from) that read input position i: o·stride − pad + k = i. */
INLINE int taps_reading(int i, int stride, int pad, int outSize, int *ks, int *os) {
  int count = 0;
  for (int k = 0; k < 3; k++) {
    const int t = i + pad - k;
    if (t >= 0 && t % stride == 0 && t / stride < outSize) {
      ks[count] = k;
      os[count++] = t / stride;
    }
  }
  return count;
}

/**
 * dx[n, ih, iw, c] = Σ of dy[…, c]·w[kh, kw, c] over the outputs whose window read (ih, iw): gathered in registers
 * and written once, taps in the order taps_reading lists them. As in depthwise_forward, groups of 16 channels go
 * position by position and the channels past the last group go four at a time along a whole input row with their
 * filter vectors in registers.
 */
EXPORT(depthwise_backward_input) void depthwise_backward_input(const float *dy, const float *w, float *dx, int batch, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  int kws[inW][3], ows[inW][3], nws[inW];
  for (int iw = 0; iw < inW; iw++) nws[iw] = taps_reading(iw, stride, padLeft, outW, kws[iw], ows[iw]);
  const int C16 = C / 16 * 16;
  for (int n = 0; n < batch; n++)
    for (int ih = 0; ih < inH; ih++) {
      int khs[3], ohs[3];
      const int nh = taps_reading(ih, stride, padTop, outH, khs, ohs);
      float *row = dx + (n * inH + ih) * inW * C;
      for (int iw = 0; iw < inW; iw++) {
        float *out = row + iw * C;
        for (int c = 0; c < C16; c += 16) {
          f4 a0 = splat4(0.0f), a1 = a0, a2 = a0, a3 = a0;
          for (int a = 0; a < nh; a++)
            for (int b = 0; b < nws[iw]; b++) {
              const float *g = dy + ((n * outH + ohs[a]) * outW + ows[iw][b]) * C + c, *f = w + (khs[a] * 3 + kws[iw][b]) * C + c;
              a0 = madd(a0, load4(g), load4(f));
              a1 = madd(a1, load4(g + 4), load4(f + 4));
              a2 = madd(a2, load4(g + 8), load4(f + 8));
              a3 = madd(a3, load4(g + 12), load4(f + 12));
            }
          store4(out + c, a0);
          store4(out + c + 4, a1);
          store4(out + c + 8, a2);
          store4(out + c + 12, a3);
        }
      }
      for (int c = C16; c < C; c += 4) {
        const f4 w0 = load4(w + c), w1 = load4(w + C + c), w2 = load4(w + 2 * C + c), w3 = load4(w + 3 * C + c),
          w4 = load4(w + 4 * C + c), w5 = load4(w + 5 * C + c), w6 = load4(w + 6 * C + c), w7 = load4(w + 7 * C + c),
          w8 = load4(w + 8 * C + c);
        for (int iw = 0; iw < inW; iw++) {
          f4 acc = splat4(0.0f);
          if (nh == 3 && nws[iw] == 3) {
            // Every tap reads (ih, iw) (stride 1, inside): taps_reading lists k = 0, 1, 2 in order on both axes.
            const float *g0 = dy + ((n * outH + ohs[0]) * outW) * C + c, *g1 = dy + ((n * outH + ohs[1]) * outW) * C + c,
              *g2 = dy + ((n * outH + ohs[2]) * outW) * C + c;
            const int o0 = ows[iw][0] * C, o1 = ows[iw][1] * C, o2 = ows[iw][2] * C;
            acc = madd(acc, load4(g0 + o0), w0);
            acc = madd(acc, load4(g0 + o1), w1);
            acc = madd(acc, load4(g0 + o2), w2);
            acc = madd(acc, load4(g1 + o0), w3);
            acc = madd(acc, load4(g1 + o1), w4);
            acc = madd(acc, load4(g1 + o2), w5);
            acc = madd(acc, load4(g2 + o0), w6);
            acc = madd(acc, load4(g2 + o1), w7);
            acc = madd(acc, load4(g2 + o2), w8);
          } else {
            for (int a = 0; a < nh; a++)
              for (int b = 0; b < nws[iw]; b++)
                acc = madd(acc, load4(dy + ((n * outH + ohs[a]) * outW + ows[iw][b]) * C + c), load4(w + (khs[a] * 3 + kws[iw][b]) * C + c));
          }
          store4(row + iw * C + c, acc);
        }
      }
    }
}

/**
 * acc_t += x(kh, kw) · d for each tap t = kh·3 + kw of [kh0, kh1) × [kw0, kw1), where x(kh, kw) is in[(kh·inW + kw)·C];
 * `full` (all nine, a constant after inlining) drops the checks. Nine named accumulators, so they stay registers.
 */
#define FILTER_TAP(t, kh, kw) \
  if (full || ((kh) >= kh0 && (kh) < kh1 && (kw) >= kw0 && (kw) < kw1)) acc##t = madd(acc##t, load4(in + ((kh) * inW + (kw)) * C), d);
#define FILTER_TAPS \
  FILTER_TAP(0, 0, 0) FILTER_TAP(1, 0, 1) FILTER_TAP(2, 0, 2) FILTER_TAP(3, 1, 0) FILTER_TAP(4, 1, 1) FILTER_TAP(5, 1, 2) \
  FILTER_TAP(6, 2, 0) FILTER_TAP(7, 2, 1) FILTER_TAP(8, 2, 2)

/**
 * The depthwise filter gradient, drawing by drawing: sums[n, kh, kw, c] = Σ x · dy over drawing n's output positions
 * (in row order, in registers) for the drawings [n0, n1); add_drawing_sums then adds the drawings' sums in order
 * (threads split the drawings). Groups of 16 channels take one tap at a time; the channels past the last group (all
 * of them where C < 16) take all nine taps in one sweep, four channels at a time, since one accumulator alone made
 * each sum wait on the one before it.
 */
EXPORT(depthwise_filter_sums) void depthwise_filter_sums(const float *x, const float *dy, float *sums, int n0, int n1, int inH, int inW, int outH, int outW, int stride, int padTop, int padLeft, int C) {
  const int C16 = C / 16 * 16;
  for (int n = n0; n < n1; n++) {
    float *drawing = sums + n * 9 * C;
    for (int kh = 0; kh < 3; kh++) {
      int oh0, oh1;
      tap_outputs(kh, stride, padTop, inH, outH, &oh0, &oh1);
      for (int kw = 0; kw < 3; kw++) {
        int ow0, ow1;
        tap_outputs(kw, stride, padLeft, inW, outW, &ow0, &ow1);
        float *f = drawing + (kh * 3 + kw) * C;
        for (int c = 0; c < C16; c += 16) {
          f4 a0 = splat4(0.0f), a1 = a0, a2 = a0, a3 = a0;
          for (int oh = oh0; oh < oh1; oh++) {
            const float *in = x + ((n * inH + oh * stride - padTop + kh) * inW + ow0 * stride - padLeft + kw) * C + c;
            const float *g = dy + ((n * outH + oh) * outW + ow0) * C + c;
            for (int ow = ow0; ow < ow1; ow++, in += stride * C, g += C) {
              a0 = madd(a0, load4(in), load4(g));
              a1 = madd(a1, load4(in + 4), load4(g + 4));
              a2 = madd(a2, load4(in + 8), load4(g + 8));
              a3 = madd(a3, load4(in + 12), load4(g + 12));
            }
          }
          store4(f + c, a0);
          store4(f + c + 4, a1);
          store4(f + c + 8, a2);
          store4(f + c + 12, a3);
        }
      }
    }
    for (int c = C16; c < C; c += 4) {
      f4 acc0 = splat4(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0, acc8 = acc0;
      for (int oh = 0; oh < outH; oh++) {
        int kh0, kh1, ih0;
        taps(oh, stride, padTop, inH, &kh0, &kh1, &ih0);
        for (int ow = 0; ow < outW; ow++) {
          int kw0, kw1, iw0;
          taps(ow, stride, padLeft, inW, &kw0, &kw1, &iw0);
          const f4 d = load4(dy + ((n * outH + oh) * outW + ow) * C + c);
          const float *in = x + ((n * inH + ih0) * inW + iw0) * C + c;
          if (kh0 == 0 && kh1 == 3 && kw0 == 0 && kw1 == 3) {
            const int full = 1;
            FILTER_TAPS
          } else {
            const int full = 0;
            FILTER_TAPS
          }
        }
      }
      const f4 tap_sums[9] = {acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8};
      for (int tap = 0; tap < 9; tap++) store4(drawing + tap * C + c, tap_sums[tap]);
    }
  }
}

/**
 * out[i] = Σ_n sums[n·count + i] for i < count (a multiple of 4), the drawings in order from zero: a filter gradient
 * from its drawings' sums, as adding each drawing's sum to it in turn did.
 */
EXPORT(add_drawing_sums) void add_drawing_sums(const float *sums, float *out, int batch, int count) {
  for (int i = 0; i < count; i += 4) {
    f4 total = splat4(0.0f);
    for (int n = 0; n < batch; n++) total = wasm_f32x4_add(total, load4(sums + n * count + i));
    store4(out + i, total);
  }
}
