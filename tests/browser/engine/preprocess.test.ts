// The engine's on-device preprocessing against mobilenet.ts `preprocess` on tfjs's CPU backend: stored uint8
// bitmaps to MobileNet input (bilinear resize with aligned corners, [-1, 1], 3 channels), at the input sizes the
// app offers, from buffers whose length is not a whole number of words.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import { bitmapWords, packBitmaps, preprocessBitmaps } from '../../../src/core/engine/preprocess.ts';
import { preprocess } from '../../../src/core/mobilenet.ts';
import { Random } from '../../../src/core/random.ts';
import { createGpu, relativeError } from './compare.ts';

let gpu: GpuContext;
beforeAll(async () => {
  await tf.setBackend('cpu');
  gpu = await createGpu();
});
afterAll(() => gpu.destroy());

describe('preprocessBitmaps', () => {
  it.each([[28, 28, 3], [28, 32, 5], [28, 48, 2], [28, 96, 1], [5, 7, 3]])('turns %i px bitmaps into %i px input like tfjs (%i drawings)', async (imageSizePx, inputSizePx, count) => {
    const random = new Random(imageSizePx * 100 + inputSizePx);
    const bitmaps = Uint8Array.from({ length: count * imageSizePx ** 2 }, () => (random.next() < 0.3 ? Math.floor(random.next() * 256) : 0));
    const expected = preprocess(bitmaps, imageSizePx, inputSizePx);
    const words = gpu.upload(packBitmaps(bitmaps));
    expect(words.size / 4).toBe(bitmapWords(count, imageSizePx));
    const out = gpu.buffer(count * inputSizePx ** 2 * 3);
    const before = gpu.dispatches;
    preprocessBitmaps(gpu, { bitmaps: words, out }, { count, imageSizePx, inputSizePx });
    expect(gpu.dispatches - before).toBe(1);
    const error = relativeError(await gpu.read(out), await expected.data());
    // tfjs interpolates in double and stores f32; the kernel interpolates in f32 (measured: up to 4.2e-6).
    expect(error).toBeLessThan(1e-5);
    expected.dispose();
    words.destroy();
    out.destroy();
  });
});
