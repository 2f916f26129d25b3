// Decoding uploaded image files in real Chromium (createImageBitmap + OffscreenCanvas, as in the inference
// worker): the centre square for photo models, the whole picture for drawing models, and a clear error for
// bytes that are not an image.
import { expect, test } from 'vitest';
import { DataError } from '../../src/core/errors.ts';
import { decodeImage } from '../../src/core/image-input.ts';

/** A PNG `width`×`height`: red left third, green middle, blue right third. */
async function stripes(width: number, height: number): Promise<ArrayBuffer> {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  ['#ff0000', '#00ff00', '#0000ff'].forEach((colour, i) => {
    context.fillStyle = colour;
    context.fillRect((i * width) / 3, 0, width / 3, height);
  });
  return (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer();
}

/** 'red', 'green' or 'blue': the strong channel of a pixel (smoothing blends a few levels in at edges). */
function colourAt(image: { width: number; rgba: ArrayLike<number> }, x: number, y: number): string {
  const rgb = [0, 1, 2].map((c) => image.rgba[(y * image.width + x) * 4 + c]!);
  const strong = rgb.findIndex((v) => v > 200);
  return strong >= 0 && rgb.filter((v) => v > 50).length === 1 ? ['red', 'green', 'blue'][strong]! : `mixed ${rgb.join(',')}`;
}

test('photo models get the centre square at their size; drawing models the whole picture, shrunk', async () => {
  const png = await stripes(300, 100);
  const square = await decodeImage(png, 'stripes.png', { sidePx: 30, crop: true });
  expect([square.width, square.height]).toEqual([30, 30]);
  // The centre 100×100 of a 300-wide picture is its green third only.
  for (const [x, y] of [[0, 0], [15, 15], [29, 29]] as const) expect(colourAt(square, x, y)).toBe('green');
  const whole = await decodeImage(png, 'stripes.png', { sidePx: 60, crop: false });
  expect([whole.width, whole.height]).toEqual([60, 20]);
  expect([colourAt(whole, 2, 10), colourAt(whole, 30, 10), colourAt(whole, 57, 10)]).toEqual(['red', 'green', 'blue']);
  const small = await decodeImage(await stripes(12, 6), 'small.png', { sidePx: 256, crop: false });
  expect([small.width, small.height]).toEqual([12, 6]);
});

test('text, a corrupt JPEG and an empty file each give a DataError naming the file', async () => {
  const cases: [string, Uint8Array, string][] = [
    ['notes.txt', new TextEncoder().encode('not a picture'), 'not-image'],
    ['broken.jpg', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 500 }, (_, i) => (i * 31) % 256)]), 'not-image'],
    ['empty.png', new Uint8Array(0), 'empty'],
  ];
  for (const [name, bytes, code] of cases) {
    const error = await decodeImage(bytes.buffer as ArrayBuffer, name, { sidePx: 28, crop: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).code).toBe(code);
    expect((error as DataError).message).toContain(`“${name}”`);
  }
});
