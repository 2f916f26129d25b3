// Turns strokes into the 28×28 bitmaps Google published as numpy_bitmap: align to the bounding box,
// scale into 0–255, draw 16-unit-wide round lines with 16 units of padding, and rasterise with
// antialiasing straight at the target size (as Google's cairo renderer does, quickdraw-dataset issue #19).
// The one function used by stroke import, the drawing canvas and training. Pure; runs anywhere.
import type { Strokes } from './ndjson.ts';

export const BITMAP_SIDE_PX = 28;
export const BITMAP_BYTES = BITMAP_SIDE_PX * BITMAP_SIDE_PX;

const ORIGINAL_SIDE = 256;
const LINE_DIAMETER = 16;
const PADDING = 16;
/** Samples per pixel along each axis; 8×8 coverage levels approximate cairo's ANTIALIAS_BEST. */
const SUPERSAMPLE = 8;

/**
 * Google's simplification step 1–2: shift strokes so the top-left of their bounding box is (0, 0) and
 * scale uniformly so the longer side spans 0–255. Timestamps (a third array) are dropped.
 */
export function normalizeStrokes(strokes: Strokes): Strokes {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const stroke of strokes) {
    for (const x of stroke[0] ?? []) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); }
    for (const y of stroke[1] ?? []) { minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
  }
  if (!Number.isFinite(minX) || !Number.isFinite(minY)) return [];
  const extent = Math.max(maxX - minX, maxY - minY);
  const scale = extent > 0 ? 255 / extent : 1;
  return strokes.map((stroke) => [
    (stroke[0] ?? []).map((x) => (x - minX) * scale),
    (stroke[1] ?? []).map((y) => (y - minY) * scale),
  ]);
}

/**
 * Rasterises strokes already in Google's 0–255 simplified space into a side×side uint8 bitmap
 * (255 = ink). Raw or canvas strokes go through `normalizeStrokes` first (`strokesToBitmap` does both).
 */
export function rasterizeStrokes(strokes: Strokes, sidePx = BITMAP_SIDE_PX): Uint8Array {
  const bitmap = new Uint8Array(sidePx * sidePx);
  let maxX = 0, maxY = 0;
  for (const stroke of strokes) {
    for (const x of stroke[0] ?? []) maxX = Math.max(maxX, x);
    for (const y of stroke[1] ?? []) maxY = Math.max(maxY, y);
  }
  const totalPadding = PADDING * 2 + LINE_DIAMETER;
  const scale = sidePx / (ORIGINAL_SIDE + totalPadding);
  // Centre the drawing in the 256 square by its bounding-box maximum, as Google's renderer does.
  const offsetX = (ORIGINAL_SIDE - maxX) / 2 + totalPadding / 2;
  const offsetY = (ORIGINAL_SIDE - maxY) / 2 + totalPadding / 2;
  const samplesSide = sidePx * SUPERSAMPLE;
  const mask = new Uint8Array(samplesSide * samplesSide);
  // Work in sample units: one unit is one supersample.
  const toSample = scale * SUPERSAMPLE;
  const radius = (LINE_DIAMETER / 2) * toSample;
  const radius2 = radius * radius;

  const stamp = (ax: number, ay: number, bx: number, by: number): void => {
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - radius));
    const x1 = Math.min(samplesSide - 1, Math.ceil(Math.max(ax, bx) + radius));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - radius));
    const y1 = Math.min(samplesSide - 1, Math.ceil(Math.max(ay, by) + radius));
    const dx = bx - ax, dy = by - ay;
    const length2 = dx * dx + dy * dy;
    for (let sy = y0; sy <= y1; sy++) {
      const py = sy + 0.5;
      for (let sx = x0; sx <= x1; sx++) {
        const px = sx + 0.5;
        let t = length2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / length2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = ax + t * dx - px, ey = ay + t * dy - py;
        if (ex * ex + ey * ey <= radius2) mask[sy * samplesSide + sx] = 1;
      }
    }
  };

  for (const stroke of strokes) {
    const xs = stroke[0] ?? [];
    const ys = stroke[1] ?? [];
    if (xs.length === 0) continue;
    let prevX = ((xs[0] ?? 0) + offsetX) * toSample;
    let prevY = ((ys[0] ?? 0) + offsetY) * toSample;
    if (xs.length === 1) stamp(prevX, prevY, prevX, prevY);
    for (let i = 1; i < xs.length; i++) {
      const x = ((xs[i] ?? 0) + offsetX) * toSample;
      const y = ((ys[i] ?? 0) + offsetY) * toSample;
      stamp(prevX, prevY, x, y);
      prevX = x;
      prevY = y;
    }
  }

  const perPixel = SUPERSAMPLE * SUPERSAMPLE;
  for (let py = 0; py < sidePx; py++) {
    for (let px = 0; px < sidePx; px++) {
      let covered = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        const row = (py * SUPERSAMPLE + sy) * samplesSide + px * SUPERSAMPLE;
        for (let sx = 0; sx < SUPERSAMPLE; sx++) covered += mask[row + sx] ?? 0;
      }
      bitmap[py * sidePx + px] = Math.round((covered / perPixel) * 255);
    }
  }
  return bitmap;
}

/** Any strokes (raw screen pixels, canvas points, simplified) to the model's 28×28 bitmap. */
export function strokesToBitmap(strokes: Strokes, sidePx = BITMAP_SIDE_PX): Uint8Array {
  return rasterizeStrokes(normalizeStrokes(strokes), sidePx);
}
