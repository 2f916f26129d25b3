// Decoding uploaded image files in real Chromium (createImageBitmap + OffscreenCanvas, as in the inference
// worker): the centre square for photo models, the whole picture for drawing models, a picture of a drawing
// fed to a sketch model as a 28×28 bitmap, and a clear error for bytes that are not an image.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { DataError } from '../../src/core/errors.ts';
import { classifyImageFile } from '../../src/core/inference/image-classify.ts';
import { decodeImage } from '../../src/core/inference/image-input.ts';
import { imageToBitmap } from '../../src/core/ingest/import.ts';
import { classifyBitmap, type Classifier } from '../../src/core/inference/inference.ts';

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

/** A tiny model reading `sidePx` RGB images, seeded so it is the same each run. */
function tinyModel(sidePx: number, inkOnWhite: boolean): Classifier {
  const labels = ['a', 'b', 'c', 'd', 'e', 'f'];
  const model = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [sidePx, sidePx, 3], filters: 4, kernelSize: 3, strides: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
    tf.layers.flatten({}),
    tf.layers.dense({ units: labels.length, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ] });
  return { model, labels, inputSizePx: sidePx, inkOnWhite, dispose: () => model.dispose() };
}

test('a sketch model reads the picture as a drawing, as imported images are; a photo model as a photo', async () => {
  await tf.setBackend('cpu');
  // A dark zigzag on white paper, as a photo or scan of a drawing would be.
  const canvas = new OffscreenCanvas(200, 120);
  const context = canvas.getContext('2d')!;
  context.fillStyle = '#f4f4f0';
  context.fillRect(0, 0, 200, 120);
  context.strokeStyle = '#202020';
  context.lineWidth = 8;
  context.beginPath();
  context.moveTo(20, 100);
  for (const [x, y] of [[60, 20], [100, 100], [140, 20], [180, 100]] as const) context.lineTo(x, y);
  context.stroke();
  const png = await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer();

  const sketch = tinyModel(32, false);
  const asDrawing = await classifyImageFile(png.slice(0), 'zigzag.png', { kind: 'selected', classifier: sketch });
  expect(asDrawing.input).toBe('drawing');
  const bitmap = imageToBitmap(await decodeImage(png.slice(0), 'zigzag.png', { sidePx: 256, crop: false }));
  // White strokes on a black background, like Quick, Draw!'s bitmaps.
  expect(bitmap[0]).toBeLessThan(30);
  expect(Math.max(...bitmap)).toBeGreaterThan(200);
  expect(asDrawing.guesses).toEqual(await classifyBitmap(sketch, bitmap));

  const photo = tinyModel(32, true);
  const asPhoto = await classifyImageFile(png.slice(0), 'zigzag.png', { kind: 'selected', classifier: photo });
  expect(asPhoto.input).toBe('photo');
  expect(asPhoto.guesses).toHaveLength(5);
  const before = tf.memory().numTensors;
  await classifyImageFile(png.slice(0), 'zigzag.png', { kind: 'selected', classifier: photo });
  await classifyImageFile(png.slice(0), 'zigzag.png', { kind: 'selected', classifier: sketch });
  expect(tf.memory().numTensors).toBe(before);
  sketch.dispose();
  photo.dispose();
});
