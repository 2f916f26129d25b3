// Gradient kernels that tfjs's WASM backend lacks (Conv2DBackpropFilter and both depthwise backprops), built
// from kernels it has (StridedSlice, BatchMatMul, Mul, Sum, Pad, DepthwiseConv2dNative), so convolutions can be
// fine-tuned on CPUs without a usable GPU. Pure tfjs; registered once in the trainer worker and in Node tests.
import * as tf from '@tensorflow/tfjs';

// The `as tf.Tensor4D` casts below: tfjs types reshape/stack/stridedSlice results as rank-generic, and the
// shapes passed to them make each one 4-D.

type Pad = 'same' | 'valid' | number | number[][];

interface ConvGeometry {
  kh: number;
  kw: number;
  stride: [number, number];
  outH: number;
  outW: number;
  /** Zero padding before and after, rows then columns, as TensorFlow computes it. */
  top: number;
  bottom: number;
  left: number;
  right: number;
}

function strideOf(strides: number | [number, number]): [number, number] {
  return typeof strides === 'number' ? [strides, strides] : strides;
}

/** TensorFlow's output size and padding for a 2-D window; 'same' puts the odd pixel after, as TF does. */
export function geometry(inH: number, inW: number, kh: number, kw: number, strides: number | [number, number], pad: Pad): ConvGeometry {
  const stride = strideOf(strides);
  const [sh, sw] = stride;
  if (pad === 'same') {
    const outH = Math.ceil(inH / sh), outW = Math.ceil(inW / sw);
    const padH = Math.max((outH - 1) * sh + kh - inH, 0), padW = Math.max((outW - 1) * sw + kw - inW, 0);
    return { kh, kw, stride, outH, outW, top: Math.floor(padH / 2), bottom: padH - Math.floor(padH / 2), left: Math.floor(padW / 2), right: padW - Math.floor(padW / 2) };
  }
  const [top, bottom, left, right] = pad === 'valid' ? [0, 0, 0, 0]
    : typeof pad === 'number' ? [pad, pad, pad, pad]
      : [pad[1]?.[0] ?? 0, pad[1]?.[1] ?? 0, pad[2]?.[0] ?? 0, pad[2]?.[1] ?? 0];
  return {
    kh, kw, stride, top, bottom, left, right,
    outH: Math.floor((inH + top + bottom - kh) / sh) + 1, outW: Math.floor((inW + left + right - kw) / sw) + 1,
  };
}

/** The input pixels that window offset (i, j) meets at every output position: [n, outH, outW, c]. */
function windowSlice(xPadded: tf.Tensor4D, g: ConvGeometry, i: number, j: number): tf.Tensor4D {
  const [n, , , c] = xPadded.shape;
  const [sh, sw] = g.stride;
  return tf.stridedSlice(xPadded, [0, i, j, 0], [n, i + (g.outH - 1) * sh + 1, j + (g.outW - 1) * sw + 1, c], [1, sh, sw, 1]) as tf.Tensor4D;
}

function padded(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return g.top + g.bottom + g.left + g.right === 0 ? x : tf.pad(x, [[0, 0], [g.top, g.bottom], [g.left, g.right], [0, 0]]);
}

/** dL/dW of a full convolution: for each window offset, (input pixels at that offset)ᵀ · dy. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], strides: number | [number, number], pad: Pad): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filterShape;
    const g = geometry(x.shape[1], x.shape[2], kh, kw, strides, pad);
    const dy2 = dy.reshape([-1, cout]);
    // Pointwise convolutions (most of MobileNet's weights) are one matrix product, with no window to slice.
    if (kh === 1 && kw === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.outH === x.shape[1] && g.outW === x.shape[2]) {
      return tf.matMul(x.reshape([-1, cin]), dy2, true, false).reshape(filterShape) as tf.Tensor4D;
    }
    const xp = padded(x, g);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tf.matMul(windowSlice(xp, g, i, j).reshape([-1, cin]), dy2, true, false));
    return tf.stack(taps).reshape(filterShape) as tf.Tensor4D;
  });
}

/** dL/dW of a depthwise convolution (channel multiplier 1): per offset, Σ over batch and space of x · dy. */
export function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], strides: number | [number, number], pad: Pad): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, multiplier] = filterShape;
    if (multiplier !== 1) throw new Error(`Depthwise training on WASM supports a channel multiplier of 1, not ${multiplier}.`);
    const g = geometry(x.shape[1], x.shape[2], kh, kw, strides, pad);
    const n = x.shape[0];
    const xp = padded(x, g);
    // Each (image, channel) pair is one channel of a depthwise correlation of the padded input with dy as the
    // filter, its taps spread by the stride: its kh × kw outputs are that pair's share of dW.
    const images = tf.transpose(xp, [1, 2, 0, 3]).reshape([1, xp.shape[1], xp.shape[2], n * c]) as tf.Tensor4D;
    const filters = tf.transpose(dy, [1, 2, 0, 3]).reshape([g.outH, g.outW, n * c, 1]) as tf.Tensor4D;
    const [sh, sw] = g.stride;
    const crop = tf.slice(images, [0, 0, 0, 0], [1, (g.outH - 1) * sh + kh, (g.outW - 1) * sw + kw, n * c]) as tf.Tensor4D;
    const perPair = tf.depthwiseConv2d(crop, filters, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.sum(perPair.reshape([kh, kw, n, c]), 2).reshape([kh, kw, c, 1]) as tf.Tensor4D;
  });
}

/**
 * dL/dx of a depthwise convolution: dy spread back to stride 1 (zeros between), padded so that a stride-1
 * 'valid' depthwise convolution with the filter flipped in space lands each gradient on the pixel it came from.
 */
export function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], strides: number | [number, number], pad: Pad): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, inH, inW, c] = inputShape;
    const [kh, kw] = filter.shape;
    const g = geometry(inH, inW, kh, kw, strides, pad);
    const [sh, sw] = g.stride;
    let spread: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      const zeros = tf.pad(dy.reshape([n, g.outH, 1, g.outW, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      spread = tf.slice(tf.reshape(zeros, [n, g.outH * sh, g.outW * sw, c]) as tf.Tensor4D, [0, 0, 0, 0], [n, (g.outH - 1) * sh + 1, (g.outW - 1) * sw + 1, c]);
    }
    const top = kh - 1 - g.top, left = kw - 1 - g.left;
    const bottom = inH + kh - 1 - top - spread.shape[1], right = inW + kw - 1 - left - spread.shape[2];
    if (top < 0 || left < 0 || bottom < 0 || right < 0) throw new Error('Unsupported padding for depthwise training on WASM.');
    const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(tf.pad(spread, [[0, 0], [top, bottom], [left, right], [0, 0]]), flipped, 1, 'valid');
  });
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  filterShape: [number, number, number, number];
  inputShape: [number, number, number, number];
  dataFormat?: string;
  dilations?: number | [number, number];
}

/** Kernel inputs are Tensors when called from ops; a bare TensorInfo gets a wrapper that the caller's tidy frees. */
function asTensor<T extends tf.Tensor>(info: tf.TensorInfo | undefined): T {
  if (info === undefined) throw new Error('A gradient kernel was called without its inputs.');
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as T;
}

let registered = false;

/** Adds the missing gradient kernels to the 'wasm' backend; safe to call more than once. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  const checked = (attrs: unknown): ConvAttrs => {
    // The attribute names are those of tfjs-core's kernel_names.ts for these kernels.
    const a = attrs as ConvAttrs;
    if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') throw new Error('WASM training supports NHWC only.');
    const d = a.dilations === undefined ? [1, 1] : strideOf(a.dilations);
    if (d[0] !== 1 || d[1] !== 1) throw new Error('WASM training does not support dilated convolutions.');
    return a;
  };
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter', backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const a = checked(attrs);
      return tf.tidy(() => conv2dFilterGrad(asTensor(inputs['x']), asTensor(inputs['dy']), a.filterShape, a.strides, a.pad));
    },
  });
  tf.registerKernel({
    kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const a = checked(attrs);
      return tf.tidy(() => depthwiseFilterGrad(asTensor(inputs['x']), asTensor(inputs['dy']), a.filterShape, a.strides, a.pad));
    },
  });
  tf.registerKernel({
    kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const a = checked(attrs);
      return tf.tidy(() => depthwiseInputGrad(asTensor(inputs['dy']), asTensor(inputs['filter']), a.inputShape, a.strides, a.pad));
    },
  });
}
