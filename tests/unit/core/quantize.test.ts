// Weight quantization decoded by tfjs itself (tf.io.decodeWeights, what tf.loadLayersModel uses): uint8 within
// scale/2 of every weight in exactly 1/4 of the bytes, float16 within half a unit in the last place in exactly
// 1/2; uint8 exports keep small tensors at float16.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { quantizeWeights, specBytes, toFloat16, UINT8_MIN_VALUES } from '../../../src/core/exchange/quantize.ts';
import { Random } from '../../../src/core/training/random.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * Weights like a network's: large conv and dense kernels (uint8 in uint8 exports), and small tensors (float16
 * there): biases, BN variances, tiny values; a large constant tensor, large non-negative weights, an int32.
 */
function fixture(): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer; values: Float32Array[] } {
  const random = new Random(11);
  const normal = (n: number, sd: number, mean = 0) => Float32Array.from({ length: n }, () => mean + sd * (random.next() + random.next() + random.next() - 1.5) * 2);
  const shapes = [[3, 3, 32, 16], [16], [64, 64], [16], [5], [4096]];
  const values = [
    normal(3 * 3 * 32 * 16, 0.3), normal(16, 0.01), new Float32Array(4096).fill(0.25), Float32Array.from(normal(16, 0.5, 1), Math.abs),
    Float32Array.of(-7e-6, 3e-7, 1e-9, 0, -0), Float32Array.from(normal(4096, 2, 1), Math.abs),
  ];
  const specs: tf.io.WeightsManifestEntry[] = values.map((_, i) => ({ name: `w${i}`, shape: shapes[i]!, dtype: 'float32' }));
  specs.push({ name: 'steps', shape: [2], dtype: 'int32' });
  const bytes = new Uint8Array(values.reduce((s, v) => s + v.byteLength, 0) + 8);
  let at = 0;
  for (const v of values) {
    bytes.set(new Uint8Array(v.buffer), at);
    at += v.byteLength;
  }
  bytes.set(new Uint8Array(Int32Array.of(41, -3).buffer), at);
  return { specs, data: bytes.buffer, values };
}

const LARGE = [0, 2, 5];

async function decoded(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): Promise<Record<string, Float32Array | Int32Array>> {
  const tensors = tf.io.decodeWeights(data, specs);
  const out: Record<string, Float32Array | Int32Array> = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = (await t.data()) as Float32Array | Int32Array;
  tf.dispose(Object.values(tensors));
  return out;
}

const floatBytes = (specs: tf.io.WeightsManifestEntry[]) => specs.filter((s) => s.dtype === 'float32').reduce((s, w) => s + specBytes(w), 0);

describe('quantizeWeights', () => {
  it('uint8: large tensors in a quarter of their bytes, each weight within scale / 2; small ones float16', async () => {
    const { specs, data, values } = fixture();
    const q = quantizeWeights(specs, data, 'uint8');
    const large = LARGE.reduce((s, i) => s + specBytes(specs[i]!), 0);
    expect(large / 4).toBeGreaterThanOrEqual(UINT8_MIN_VALUES * 3);
    expect(q.weightData.byteLength).toBe(large / 4 + (floatBytes(specs) - large) / 2 + 8);
    const out = await decoded(q.weightSpecs, q.weightData);
    values.forEach((v, i) => {
      const got = out[`w${i}`]!;
      if (!LARGE.includes(i)) {
        expect(q.weightSpecs[i]!.quantization).toEqual({ dtype: 'float16' });
        v.forEach((x, j) => expect(Math.abs(got[j]! - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25)));
        return;
      }
      const { scale, min } = q.weightSpecs[i]!.quantization as { scale: number; min: number };
      expect(q.weightSpecs[i]!.quantization?.dtype).toBe('uint8');
      expect(min).toBe(Math.min(...v));
      // float32 storage of the dequantized value adds at most one rounding of the result.
      v.forEach((x, j) => expect(Math.abs(got[j]! - x)).toBeLessThanOrEqual(scale / 2 + Math.abs(x) * 2 ** -23 + 1e-12));
    });
    // A constant tensor comes back exactly; the int32 weight is untouched.
    expect(out['w2']!.every((x) => x === 0.25)).toBe(true);
    expect(q.weightSpecs[6]!.quantization).toBeUndefined();
    expect(Array.from(out['steps']!)).toEqual([41, -3]);
    // Non-negative weights never decode below their true minimum.
    expect(Math.min(...out['w5']!)).toBeGreaterThanOrEqual(Math.min(...values[5]!) - 1e-7);
  });

  it('float16: tfjs decodes within half a unit in the last place (relative 2^-11), in exactly half the float bytes', async () => {
    const { specs, data, values } = fixture();
    const q = quantizeWeights(specs, data, 'float16');
    expect(q.weightData.byteLength).toBe(floatBytes(specs) / 2 + 8);
    expect(q.weightSpecs.slice(0, 6).every((s) => s.quantization?.dtype === 'float16' && s.dtype === 'float32')).toBe(true);
    const out = await decoded(q.weightSpecs, q.weightData);
    values.forEach((v, i) => {
      const got = out[`w${i}`]!;
      // Normal halves: relative error ≤ 2^-11; subnormal halves (below 2^-14): absolute error ≤ 2^-25.
      v.forEach((x, j) => expect(Math.abs(got[j]! - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25)));
    });
    expect(Array.from(out['steps']!)).toEqual([41, -3]);
  });

  it('float32 keeps the bytes exactly; mismatched bytes and NaN weights are refused', () => {
    const { specs, data } = fixture();
    const same = quantizeWeights(specs, data, 'float32');
    expect(new Uint8Array(same.weightData)).toEqual(new Uint8Array(data));
    expect(same.weightSpecs.every((s) => s.quantization === undefined)).toBe(true);
    expect(() => quantizeWeights(specs, data.slice(4), 'uint8')).toThrow(/hold \d+ bytes but their specs describe \d+/);
    const nan = new Float32Array(UINT8_MIN_VALUES).fill(1);
    nan[7] = Number.NaN;
    const spec: tf.io.WeightsManifestEntry = { name: 'n', shape: [UINT8_MIN_VALUES], dtype: 'float32' };
    expect(() => quantizeWeights([spec], nan.buffer, 'uint8')).toThrow(/NaN or infinite/);
    expect(() => quantizeWeights([spec], nan.buffer, 'float16')).toThrow(/NaN/);
  });
});

describe('toFloat16', () => {
  it('gives IEEE half bits, rounding to nearest even, with subnormals and clamping at ±65504', () => {
    const bits = (xs: number[]) => Array.from(toFloat16(Float32Array.from(xs)), (b) => b.toString(16).padStart(4, '0'));
    expect(bits([0, -0, 1, -2, 0.1, 65504, 1e6, -1e6, 2 ** -24, 2 ** -25, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519]))
      .toEqual(['0000', '8000', '3c00', 'c000', '2e66', '7bff', '7bff', 'fbff', '0001', '0000', '0400', '3c00', '3c02', '7bff']);
  });
});
