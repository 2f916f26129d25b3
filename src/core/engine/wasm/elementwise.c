// Element by element over flat activations: MobileNet v2's residual adds (forward y = a + b; backward, the add's
// gradient joining the chain's at the skip's source) and the ReLU of Teachable Machine's hidden dense layer. Each
// works on the floats [i0, i1) of its buffers, so threads split them by ranges with the same bits as one thread.
#include "kernels.h"

/** y = a + b over [i0, i1) (y may be a or b). */
EXPORT(add_forward) void add_forward(const float *a, const float *b, float *y, int i0, int i1) {
  int i = i0;
  for (; i + 4 <= i1; i += 4) store4(y + i, wasm_f32x4_add(load4(a + i), load4(b + i)));
  for (; i < i1; i++) y[i] = a[i] + b[i];
}

/** y = max(y, 0) in place over [i0, i1). */
EXPORT(relu_forward) void relu_forward(float *y, int i0, int i1) {
  const f4 zero = splat4(0.0f);
  int i = i0;
  for (; i + 4 <= i1; i += 4) store4(y + i, wasm_f32x4_max(load4(y + i), zero));
  for (; i < i1; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

/** dx = dy where the ReLU's output y is positive, else 0 (tf.relu's gradient), over [i0, i1). */
EXPORT(relu_backward) void relu_backward(const float *dy, const float *y, float *dx, int i0, int i1) {
  const f4 zero = splat4(0.0f);
  int i = i0;
  for (; i + 4 <= i1; i += 4) store4(dx + i, wasm_v128_and(load4(dy + i), wasm_f32x4_gt(load4(y + i), zero)));
  for (; i < i1; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
