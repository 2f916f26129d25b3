// Classifies an uploaded image file: by the stock ImageNet MobileNet (@tensorflow-models/mobilenet on our
// self-hosted TF-Hub GraphModel) or by the model chosen on the Play page. Runs in the inference worker; the
// caller owns the loaded ImageNet model. Every tensor made here is disposed here.
import * as tf from '@tensorflow/tfjs';
import * as mobilenet from '@tensorflow-models/mobilenet';
import { decodeImage, photoBatch, rgbImage } from './image-input.ts';
import { imageToBitmap } from '../ingest/import.ts';
import { classifyBitmap, type Classifier, type Guess } from './inference.ts';
import { topK } from './metrics.ts';

/** Put there by `npm run assets` (datasets/assets.ts), relative to the site's root. */
export const IMAGENET_MODEL_PATH = 'assets/models/imagenet_mobilenet_v1_0.25_224/model.json';
/** The package resizes whatever it gets to 224 px itself; larger pictures are first shrunk to fit this. */
const IMAGENET_DECODE_SIDE_PX = 1024;
/** Pictures read as drawings are first shrunk to fit this: still ≈ 9×9 source pixels per bitmap pixel for
 * imageToBitmap's area averaging, at a fraction of the data worker's 1024 px cost. */
const DRAWING_DECODE_SIDE_PX = 256;

export type ImageModelChoice = 'imagenet' | 'selected';

export interface ImageClassifyResult {
  guesses: Guess[];
  /** What the model was fed: a photo at its input size, or the picture turned into a 28×28 drawing. */
  input: 'photo' | 'drawing';
  decodeMs: number;
  predictMs: number;
}

export async function loadImagenet(siteUrl: string): Promise<mobilenet.MobileNet> {
  // With a modelUrl the package assumes inputs in [-1, 1]; this TF-Hub model wants [0, 1] (as the package's
  // own table says for v1). Without it the guesses drift: cat.jpg reads "tabby, tabby cat", not "Egyptian cat".
  return mobilenet.load({ version: 1, alpha: 0.25, modelUrl: new URL(IMAGENET_MODEL_PATH, siteUrl).href, inputRange: [0, 1] });
}

/**
 * Whether a model reads photos. Only Teachable Machine image models are fed dark ink on white: they were
 * trained on camera frames. Models trained here (and their exports) read 28×28 Quick, Draw! bitmaps.
 */
export const readsPhotos = (classifier: Classifier): boolean => classifier.inkOnWhite;

/** The `k` most likely classes of a photo for a model that reads [-1, 1] RGB at its input size. */
export async function classifyPhoto(classifier: Classifier, rgba: Uint8Array | Uint8ClampedArray, k = 5): Promise<Guess[]> {
  const output = tf.tidy(() => classifier.model.predict(photoBatch(rgba, classifier.inputSizePx)) as tf.Tensor);
  const probabilities = await output.data();
  output.dispose();
  return topK(probabilities, Math.min(k, classifier.labels.length)).map((i) => ({ label: classifier.labels[i]!, probability: probabilities[i]! }));
}

export async function classifyImageFile(bytes: ArrayBuffer, fileName: string,
  target: { kind: 'imagenet'; model: mobilenet.MobileNet } | { kind: 'selected'; classifier: Classifier }, k = 5): Promise<ImageClassifyResult> {
  const started = performance.now();
  // A model trained on sketches has never seen a photo: the person expects the picture (most likely a photo,
  // scan or export of a drawing) to be read as a drawing, so it becomes a 28×28 white-on-black bitmap exactly
  // as images imported as training data do (imageToBitmap: inverted when the paper is light, letterboxed, not
  // cropped, so no stroke is cut off). Teachable Machine models get the centre square at their input size, as
  // Teachable Machine crops camera frames. ImageNet MobileNet gets the whole picture, which the package
  // squashes to 224×224 as it does for an <img>: the reference results for it (cat.jpg → "Egyptian cat")
  // are for that input; a centre crop of cat.jpg reads "Persian cat".
  const input = target.kind === 'imagenet' || readsPhotos(target.classifier) ? 'photo' : 'drawing';
  const fit = target.kind === 'imagenet' ? { sidePx: IMAGENET_DECODE_SIDE_PX, crop: false }
    : input === 'photo' ? { sidePx: target.classifier.inputSizePx, crop: true } : { sidePx: DRAWING_DECODE_SIDE_PX, crop: false };
  const image = await decodeImage(bytes, fileName, fit);
  const decodedAt = performance.now();
  let guesses: Guess[];
  if (target.kind === 'imagenet') {
    const pixels = rgbImage(image);
    try {
      guesses = (await target.model.classify(pixels, k)).map((c) => ({ label: c.className, probability: c.probability }));
    } finally {
      pixels.dispose();
    }
  } else {
    guesses = input === 'photo' ? await classifyPhoto(target.classifier, image.rgba, k) : await classifyBitmap(target.classifier, imageToBitmap(image), k);
  }
  return { guesses, input, decodeMs: decodedAt - started, predictMs: performance.now() - decodedAt };
}
