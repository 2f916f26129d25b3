// Turns an uploaded image file into what a model reads: its bytes decoded (createImageBitmap) and resized
// (OffscreenCanvas) into RGBA pixels, centre-cropped to a square for photo models at their size; those
// pixels as tensors.
// (Drawing models get import.ts's imageToBitmap, as imported training images do.) `decodeImage` needs a
// browser or worker; the rest is pure and also runs in Node tests.
import * as tf from '@tensorflow/tfjs';
import { DataError } from '../errors.ts';
import type { DecodedImage } from '../ingest/import.ts';

/** The largest centred square of a `widthPx`×`heightPx` image: what Teachable Machine feeds its models. */
export function centerSquare(widthPx: number, heightPx: number): { x: number; y: number; sidePx: number } {
  const sidePx = Math.min(widthPx, heightPx);
  return { x: Math.floor((widthPx - sidePx) / 2), y: Math.floor((heightPx - sidePx) / 2), sidePx };
}

/**
 * Decodes image file bytes to RGBA: with `crop`, the centre square resized to `sidePx`×`sidePx`; without, the
 * whole picture shrunk (never enlarged) to fit `sidePx`. A file the browser cannot decode (not an image, or a
 * corrupt one) is a DataError 'not-image' naming the file.
 */
export async function decodeImage(bytes: ArrayBuffer, fileName: string, fit: { sidePx: number; crop: boolean }): Promise<DecodedImage> {
  if (bytes.byteLength === 0) throw new DataError('empty', `“${fileName}” is empty (0 bytes). Choose a JPEG, PNG, GIF or WebP photo.`, fileName);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]));
  } catch {
    throw new DataError('not-image', `“${fileName}” is not an image this browser can read (or it is corrupt). Choose a JPEG, PNG, GIF or WebP photo.`, fileName);
  }
  try {
    const source = fit.crop ? centerSquare(bitmap.width, bitmap.height) : { x: 0, y: 0, sidePx: 0 };
    const scale = Math.min(1, fit.sidePx / Math.max(bitmap.width, bitmap.height));
    const width = fit.crop ? fit.sidePx : Math.max(1, Math.round(bitmap.width * scale));
    const height = fit.crop ? fit.sidePx : Math.max(1, Math.round(bitmap.height * scale));
    const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (context === null) throw new Error('This browser gives workers no 2D canvas, so images cannot be read here.');
    context.imageSmoothingQuality = 'high';
    if (fit.crop) context.drawImage(bitmap, source.x, source.y, source.sidePx, source.sidePx, 0, 0, width, height);
    else context.drawImage(bitmap, 0, 0, width, height);
    return { width, height, rgba: context.getImageData(0, 0, width, height).data };
  } finally {
    bitmap.close();
  }
}

/** `sidePx`² RGBA pixels as a [1, side, side, 3] batch scaled to [-1, 1], as Teachable Machine feeds its models. */
export function photoBatch(rgba: Uint8Array | Uint8ClampedArray, sidePx: number): tf.Tensor4D {
  return tf.tidy(() => {
    const pixels = tf.tensor4d(Float32Array.from(rgba), [1, sidePx, sidePx, 4]);
    return pixels.slice([0, 0, 0, 0], [1, sidePx, sidePx, 3]).div(127.5).sub(1) as tf.Tensor4D;
  });
}

/** A decoded image as an int32 [height, width, 3] tensor in 0–255, the form @tensorflow-models/mobilenet takes. */
export function rgbImage({ width, height, rgba }: DecodedImage): tf.Tensor3D {
  return tf.tidy(() => tf.tensor3d(Int32Array.from(rgba), [height, width, 4], 'int32').slice([0, 0, 0], [height, width, 3]) as tf.Tensor3D);
}
