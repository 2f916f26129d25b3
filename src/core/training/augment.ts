// Augmentation of square uint8 bitmaps (white strokes on black) for training: random scale, rotation,
// translation, stroke width and left-right mirroring, with a seeded Random so a resumed run repeats itself. Pure TS, any thread.
import type { Random } from './random.ts';

export interface AugmentOptions {
  /** Largest relative change of size, e.g. 0.15 for ±15 %. */
  scale: number;
  rotationDeg: number;
  /** Largest shift in pixels of the bitmap. */
  translatePx: number;
  /** Chance of thickening the strokes by one pixel (a 3×3 max filter blended at half strength). */
  thickenProbability: number;
  /** Chance of mirroring the drawing left to right (absent in configs from before it existed: 0). */
  flipProbability?: number;
}

export const NO_AUGMENTATION: AugmentOptions = { scale: 0, rotationDeg: 0, translatePx: 0, thickenProbability: 0 };

export function isAugmenting(options: AugmentOptions): boolean {
  return options.scale > 0 || options.rotationDeg > 0 || options.translatePx > 0 || options.thickenProbability > 0 || (options.flipProbability ?? 0) > 0;
}

/** One drawing's random transform: the inverse map's rotation-and-scale terms, the shift, and the thickening. */
export interface AugmentDraw {
  /** cos(angle)/scale and sin(angle)/scale. */
  cos: number;
  sin: number;
  dx: number;
  dy: number;
  thicken: boolean;
  /** Mirrored left to right before the transform (x − centre negated). */
  flip: boolean;
}

/**
 * The next drawing's transform from `random`: five draws in this order whatever the options, and a sixth for the
 * mirroring only where the options mirror (so configs from before it draw as they did).
 */
export function drawAugmentation(options: AugmentOptions, random: Random): AugmentDraw {
  const scale = 1 + random.symmetric(options.scale);
  const angle = (random.symmetric(options.rotationDeg) * Math.PI) / 180;
  const dx = random.symmetric(options.translatePx), dy = random.symmetric(options.translatePx);
  const thicken = random.next() < options.thickenProbability;
  const flipProbability = options.flipProbability ?? 0;
  const flip = flipProbability > 0 && random.next() < flipProbability;
  return { cos: Math.cos(angle) / scale, sin: Math.sin(angle) / scale, dx, dy, thicken, flip };
}

/** Augments `count` bitmaps of `sizePx`² back to back in `source` into a new array. */
export function augmentBitmaps(source: Uint8Array, sizePx: number, options: AugmentOptions, random: Random): Uint8Array<ArrayBuffer> {
  const count = source.length / (sizePx * sizePx);
  return applyAugmentation(source, sizePx, Array.from({ length: count }, () => drawAugmentation(options, random)));
}

/** The bitmaps of `source` (back to back) each transformed by its draw, into a new array. */
export function applyAugmentation(source: Uint8Array, sizePx: number, draws: readonly AugmentDraw[]): Uint8Array<ArrayBuffer> {
  const pixels = sizePx * sizePx;
  const out = new Uint8Array(source.length);
  const scratch = new Uint8Array(pixels);
  draws.forEach((draw, n) => {
    const image = source.subarray(n * pixels, (n + 1) * pixels);
    const target = out.subarray(n * pixels, (n + 1) * pixels);
    warp(image, draw.thicken ? scratch : target, sizePx, draw);
    if (draw.thicken) dilate(scratch, target, sizePx);
  });
  return out;
}

/**
 * Inverse-maps each output pixel through the affine transform about the centre, sampling bilinearly (the engine's
 * preprocess.ts does the same on the device).
 */
function warp(source: Uint8Array, target: Uint8Array, size: number, { cos, sin, dx, dy, flip }: AugmentDraw): void {
  const centre = (size - 1) / 2;
  const mirror = flip ? -1 : 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = mirror * (x - centre) - dx, v = y - centre - dy;
      const sx = cos * u + sin * v + centre, sy = -sin * u + cos * v + centre;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const value = (1 - fx) * (1 - fy) * at(source, size, x0, y0) + fx * (1 - fy) * at(source, size, x0 + 1, y0)
        + (1 - fx) * fy * at(source, size, x0, y0 + 1) + fx * fy * at(source, size, x0 + 1, y0 + 1);
      target[y * size + x] = Math.round(value);
    }
  }
}

function at(image: Uint8Array, size: number, x: number, y: number): number {
  return x < 0 || y < 0 || x >= size || y >= size ? 0 : image[y * size + x]!;
}

function dilate(source: Uint8Array, target: Uint8Array, size: number): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let max = 0;
      for (let j = -1; j <= 1; j++) for (let i = -1; i <= 1; i++) max = Math.max(max, at(source, size, x + i, y + j));
      const own = source[y * size + x]!;
      target[y * size + x] = Math.round(own + (max - own) / 2);
    }
  }
}

/** Test-time augmentation: 'flip' guesses from a drawing and its mirror image together (TrainConfig). */
export type TestTimeAugmentation = 'none' | 'flip';

/** The bitmaps of `source` (back to back) mirrored left to right, into a new array. */
export function mirrorBitmaps(source: Uint8Array, sizePx: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(source.length);
  for (let row = 0; row < source.length; row += sizePx) {
    for (let x = 0; x < sizePx; x++) out[row + x] = source[row + sizePx - 1 - x]!;
  }
  return out;
}

/** What a model sees of `bitmaps` under `mode`: the drawings, and with 'flip' their mirror images too. */
export function testTimeViews(bitmaps: Uint8Array, sizePx: number, mode: TestTimeAugmentation | undefined): Uint8Array[] {
  return mode === 'flip' ? [bitmaps, mirrorBitmaps(bitmaps, sizePx)] : [bitmaps];
}

/** The mean of equally long probability arrays: one guess from the model's guesses for each view. */
export function averageViews(views: readonly Float32Array[]): Float32Array {
  if (views.length === 1) return views[0]!;
  const out = new Float32Array(views[0]!.length);
  for (const view of views) for (let i = 0; i < out.length; i++) out[i]! += view[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= views.length;
  return out;
}
