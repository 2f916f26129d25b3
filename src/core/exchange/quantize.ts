// Weight quantization for export, written in tfjs's own weights-manifest format (a spec's `quantization`
// field) so that plain tf.loadLayersModel dequantizes on load with no code of ours: float16 halves the
// weight bytes; uint8 (per-tensor affine: value ≈ q · scale + min) quarters the large tensors and keeps the
// small ones at float16. Pure TS, any thread.
import type * as tf from '@tensorflow/tfjs';
import { concatBytes } from '../data/bytes.ts';

export type WeightPrecision = 'float32' | 'float16' | 'uint8';

export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['float32', 'float16', 'uint8'];

/**
 * In uint8 exports, tensors with fewer values stay float16. tfjs can only give a whole tensor one scale, and
 * the small tensors (BatchNormalization statistics, biases, depthwise kernels) are the sensitive ones: their
 * values span orders of magnitude, so 256 levels flatten them. Measured on the tiny preset (3 classes, 177
 * test drawings, Node cpu, float32 87.6 %): everything uint8 scored 81.4 %; with this rule 88.1 % (one
 * drawing is 0.6 points), for 28 % of the float32 bytes instead of 25 %.
 */
export const UINT8_MIN_VALUES = 4096;

export interface QuantizedWeights {
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes a spec takes in a weights file (its quantized type when quantized). Strings are not supported. */
export function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = BYTES_PER_VALUE[dtype];
  if (bytes === undefined) throw new Error(`Weight ${spec.name} has dtype ${dtype}, which an export cannot hold.`);
  return spec.shape.reduce((a, b) => a * b, 1) * bytes;
}

/**
 * Re-encodes unquantized float32 weights (as tfjs saves them, back to back) at `precision` (for uint8: only
 * tensors of at least UINT8_MIN_VALUES values, the rest float16). Other dtypes and already-quantized
 * weights are copied unchanged.
 */
export function quantizeWeights(weightSpecs: readonly tf.io.WeightsManifestEntry[], weightData: ArrayBuffer, precision: WeightPrecision): QuantizedWeights {
  const total = weightSpecs.reduce((sum, spec) => sum + specBytes(spec), 0);
  if (total !== weightData.byteLength) throw new Error(`The weights hold ${weightData.byteLength} bytes but their specs describe ${total}.`);
  if (precision === 'float32') return { weightSpecs: weightSpecs.map((s) => ({ ...s })), weightData: weightData.slice(0) };
  const parts: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of weightSpecs) {
    const size = specBytes(spec);
    // slice() copies, so the Float32Array below is 4-byte aligned whatever the offset.
    const bytes = weightData.slice(offset, offset + size);
    offset += size;
    if (spec.dtype !== 'float32' || spec.quantization !== undefined) {
      specs.push({ ...spec });
      parts.push(new Uint8Array(bytes));
    } else if (precision === 'float16' || size / 4 < UINT8_MIN_VALUES) {
      specs.push({ ...spec, quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(toFloat16(new Float32Array(bytes)).buffer));
    } else {
      const { values, scale, min } = toUint8(new Float32Array(bytes));
      specs.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
      parts.push(values);
    }
  }
  return { weightSpecs: specs, weightData: concatBytes(parts).buffer };
}

/**
 * Per-tensor affine uint8: q = round((v − min) / scale) with scale = (max − min) / 255, so every weight is
 * within scale / 2 of its dequantized value. min is the tensor's exact minimum (not nudged to put 0 on the
 * grid as TensorFlow's converter does): nothing here needs an exact zero, and this keeps the bound exact.
 */
export function toUint8(values: Float32Array): { values: Uint8Array; scale: number; min: number } {
  let min = Infinity, max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new Error('A weight is NaN or infinite; the model cannot be quantized (train it again).');
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) return { values: new Uint8Array(0), scale: 0, min: 0 };
  const scale = max > min ? (max - min) / 255 : 0;
  const out = new Uint8Array(values.length);
  if (scale > 0) for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round((values[i]! - min) / scale)));
  return { values: out, scale, min };
}

const FLOAT16_MAX = 65504;
const scratch = new DataView(new ArrayBuffer(4));

/**
 * IEEE 754 half precision bits, rounded to nearest even (subnormals included); magnitudes beyond 65504 are
 * clamped to ±65504, because tfjs's decoder has no special case for infinity.
 */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) throw new Error('A weight is NaN; the model cannot be quantized (train it again).');
    out[i] = float16Bits(Math.max(-FLOAT16_MAX, Math.min(FLOAT16_MAX, v)));
  }
  return out;
}

function float16Bits(value: number): number {
  scratch.setFloat32(0, value);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7bff; // unreachable after the clamp above; kept so no input can make infinity
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit leading 1, into 10 bits.
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    return sign | roundShift(full, shift);
  }
  // Rounding may carry into the exponent; the sum stays a correct half (up to 0x7bff after the clamp).
  return (sign | (e << 10)) + roundShift(mantissa, 13);
}

/** value >> shift, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}
