// The engine's on-device preprocessing against mobilenet.ts `preprocess` on tfjs's CPU backend: stored uint8
// bitmaps to MobileNet input (bilinear resize with aligned corners, [-1, 1], 3 channels), at the input sizes the
// app offers, from buffers whose length is not a whole number of words; and augmentation on the device against
// augment.ts on the same random transforms.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../../src/core/engine/gpu.ts';
import { augmentBitmaps, drawAugmentation } from '../../../src/core/training/augment.ts';
import { augmentBitmapsOnDevice, bitmapWords, DRAW_FLOATS, packBitmaps, packDraws, preprocessBitmaps } from '../../../src/core/engine/preprocess.ts';
import { preprocess } from '../../../src/core/training/mobilenet.ts';
import { Random } from '../../../src/core/training/random.ts';
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

describe('augmentation on the device', () => {
  it.each([[28, 32, 16, 0], [5, 7, 7, 0], [28, 32, 16, 0.5]])('warps and thickens %i px bitmaps into %i px input as augment.ts and tfjs do (%i drawings, mirrored with probability %f)', async (imageSizePx, inputSizePx, count, flipProbability) => {
    const random = new Random(imageSizePx + count);
    const bitmaps = Uint8Array.from({ length: count * imageSizePx ** 2 }, () => (random.next() < 0.3 ? Math.floor(random.next() * 256) : 0));
    const options = { scale: 0.2, rotationDeg: 15, translatePx: 2, thickenProbability: 0.5, flipProbability };
    const expected = preprocess(augmentBitmaps(bitmaps, imageSizePx, options, new Random(9)), imageSizePx, inputSizePx);
    // The same stream gives the same transforms: five or six draws a drawing, in augmentBitmaps's order.
    const stream = new Random(9);
    const draws = Array.from({ length: count }, () => drawAugmentation(options, stream));
    expect(draws.some((d) => d.thicken) && draws.some((d) => !d.thicken)).toBe(true);
    if (flipProbability > 0) expect(draws.some((d) => d.flip) && draws.some((d) => !d.flip)).toBe(true);
    const b = {
      bitmaps: gpu.upload(packBitmaps(bitmaps)), draws: gpu.upload(packDraws(draws, new Float32Array(count * DRAW_FLOATS))),
      warped: gpu.buffer(bitmapWords(count, imageSizePx)), out: gpu.buffer(count * inputSizePx ** 2 * 3),
    };
    const before = gpu.dispatches;
    augmentBitmapsOnDevice(gpu, { bitmaps: b.bitmaps, draws: b.draws, out: b.warped }, { count, imageSizePx });
    preprocessBitmaps(gpu, { bitmaps: b.warped, out: b.out, draws: b.draws }, { count, imageSizePx, inputSizePx });
    expect(gpu.dispatches - before).toBe(2);
    // augment.ts maps positions in double and the kernel in f32, so a sample on a rounding boundary could land one
    // grey level (7.8e-3 of the range) apart; measured on SwiftShader: none does, and the rest is the resize's 1e-5.
    const error = relativeError(await gpu.read(b.out), await expected.data());
    console.log(`augmentation on the device, ${imageSizePx} → ${inputSizePx} px: relative error ${error.toExponential(2)} against augment.ts + tfjs`);
    expect(error).toBeLessThan(1e-5);
    expected.dispose();
    for (const buffer of Object.values(b)) buffer.destroy();
  });
});
