// Paints a stored 28×28 drawing (white ink on black, as Quick, Draw! stores it) onto a canvas as dark ink on
// white, the way people draw. Main thread; used as a Svelte attachment.
import { BITMAP_BYTES, BITMAP_SIDE_PX } from '../core/data/render.ts';

/** The side of the canvas a stored drawing is painted on (one canvas pixel a bitmap pixel; CSS scales it). */
export const BITMAP_CANVAS_PX = BITMAP_SIDE_PX;

/** The `index`-th drawing of a run of stored bitmaps, and how many the run holds. */
export const bitmapAt = (bitmaps: Uint8Array, index: number): Uint8Array => bitmaps.subarray(index * BITMAP_BYTES, (index + 1) * BITMAP_BYTES);
export const bitmapCount = (bitmaps: Uint8Array): number => bitmaps.length / BITMAP_BYTES;

export function paintBitmap(canvas: HTMLCanvasElement, bitmap: Uint8Array, sidePx = BITMAP_SIDE_PX): void {
  const context = canvas.getContext('2d');
  if (context === null) return;
  const image = context.createImageData(sidePx, sidePx);
  for (let i = 0; i < sidePx * sidePx; i++) {
    const ink = 255 - (bitmap[i] ?? 0);
    image.data[i * 4] = ink;
    image.data[i * 4 + 1] = ink;
    image.data[i * 4 + 2] = ink;
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}
