// The misclassified drawings of an evaluation: picking the most confident mistakes (with their 28×28 bitmaps,
// so the gallery needs no second read of the dataset) and filtering them by confusion-matrix cell.
// Pure TS; runs in the trainer worker (evaluation) and on the page (filtering).
import { evaluate, type EvaluationResult } from './metrics.ts';

/** How many mistakes an evaluation keeps: 100 × 784 bytes stays small in a run record. */
export const MISTAKES_KEPT = 100;

export interface Mistake {
  /** Position of the drawing in the test split the evaluation ran on. */
  index: number;
  actual: number;
  predicted: number;
  /** Probability the model gave its (wrong) guess. */
  confidence: number;
  /** The drawing as the model saw it: side² bytes, its own buffer. */
  bitmap: Uint8Array;
}

export interface MistakeGallery {
  /** Every mistake in the split; `items` holds at most MISTAKES_KEPT of them. */
  total: number;
  /** Most confident first. */
  items: Mistake[];
}

export interface ConfusionCell {
  actual: number;
  predicted: number;
}

/**
 * The `limit` most confident wrong top-1 guesses. `probabilities` holds `classes` scores per example back to
 * back, `bitmaps` `bitmapBytes` bytes per example. Ties in confidence keep the split's order.
 */
export function pickMistakes(
  probabilities: Float32Array, actual: ArrayLike<number>, classes: number, bitmaps: Uint8Array, bitmapBytes: number, limit = MISTAKES_KEPT,
): MistakeGallery {
  const count = actual.length;
  if (probabilities.length !== count * classes) throw new Error(`pickMistakes: ${probabilities.length} scores for ${count} examples × ${classes} classes`);
  if (bitmaps.length !== count * bitmapBytes) throw new Error(`pickMistakes: ${bitmaps.length} bitmap bytes for ${count} examples × ${bitmapBytes}`);
  const wrong: Omit<Mistake, 'bitmap'>[] = [];
  for (let n = 0; n < count; n++) {
    const scores = probabilities.subarray(n * classes, (n + 1) * classes);
    // The same argmax as evaluate's topK (first index wins a tie), so the gallery matches the confusion matrix.
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[c]! > scores[best]!) best = c;
    if (best !== actual[n]) wrong.push({ index: n, actual: actual[n]!, predicted: best, confidence: scores[best]! });
  }
  wrong.sort((a, b) => b.confidence - a.confidence || a.index - b.index);
  const items = wrong.slice(0, Math.max(0, limit)).map((m) => ({ ...m, bitmap: bitmaps.slice(m.index * bitmapBytes, (m.index + 1) * bitmapBytes) }));
  return { total: wrong.length, items };
}

/** Metrics and the gallery of mistakes in one pass over a split's predictions. */
export function evaluateWithMistakes(
  probabilities: Float32Array, actual: ArrayLike<number>, labels: readonly string[], bitmaps: Uint8Array, bitmapBytes: number,
): EvaluationResult {
  return { ...evaluate(probabilities, actual, labels), mistakes: pickMistakes(probabilities, actual, labels.length, bitmaps, bitmapBytes) };
}

/** The kept mistakes in one confusion cell (true `actual`, guessed `predicted`), or all of them for `null`. */
export function mistakesIn(gallery: MistakeGallery, cell: ConfusionCell | null): Mistake[] {
  if (cell === null) return gallery.items;
  return gallery.items.filter((m) => m.actual === cell.actual && m.predicted === cell.predicted);
}

/** How many mistakes a cell (or the whole gallery, for `null`) has in all, from the confusion matrix. */
export function mistakeCount(confusion: readonly (readonly number[])[], cell: ConfusionCell | null): number {
  if (cell !== null) return cell.actual === cell.predicted ? 0 : (confusion[cell.actual]?.[cell.predicted] ?? 0);
  return confusion.reduce((sum, row, i) => sum + row.reduce((s, n, j) => (i === j ? s : s + n), 0), 0);
}

/** What a screen reader hears for one mistake, e.g. "cat guessed as dog 87%". */
export function describeMistake(mistake: Mistake, labels: readonly string[]): string {
  const name = (i: number) => labels[i] ?? `class ${i}`;
  return `${name(mistake.actual)} guessed as ${name(mistake.predicted)} ${Math.round(mistake.confidence * 100)}%`;
}
