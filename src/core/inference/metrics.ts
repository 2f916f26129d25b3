// Classification metrics from predicted probabilities: top-1/top-3 accuracy, per-class precision, recall and
// F1, and the confusion matrix. Used by training (validation), evaluation and the pipeline. Pure TS.
import type { MistakeGallery } from './mistakes.ts';

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvaluationResult {
  count: number;
  top1: number;
  top3: number;
  perClass: ClassMetrics[];
  /** confusion[actual][predicted] counts. */
  confusion: number[][];
  /**
   * The most confident misclassified drawings. Absent on runs evaluated before the gallery existed (records
   * in IndexedDB keep whatever shape they were written with) until they are evaluated again.
   */
  mistakes?: MistakeGallery;
}

/** `probabilities` holds `labels.length` scores per example, back to back; `actual` the true class indices. */
export function evaluate(probabilities: Float32Array, actual: ArrayLike<number>, labels: readonly string[]): EvaluationResult {
  const classes = labels.length;
  const count = actual.length;
  if (probabilities.length !== count * classes) throw new Error(`evaluate: ${probabilities.length} scores for ${count} examples × ${classes} classes`);
  const confusion = labels.map(() => new Array<number>(classes).fill(0));
  let top1 = 0, top3 = 0;
  for (let n = 0; n < count; n++) {
    const truth = actual[n]!;
    const scores = probabilities.subarray(n * classes, (n + 1) * classes);
    const ranked = topK(scores, Math.min(3, classes));
    if (ranked[0] === truth) top1++;
    if (ranked.includes(truth)) top3++;
    confusion[truth]![ranked[0]!]!++;
  }
  const perClass = labels.map((label, c) => {
    const truePositives = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, row) => sum + row[c]!, 0);
    const precision = predicted === 0 ? 0 : truePositives / predicted;
    const recall = support === 0 ? 0 : truePositives / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label, precision, recall, f1, support };
  });
  return { count, top1: count === 0 ? 0 : top1 / count, top3: count === 0 ? 0 : top3 / count, perClass, confusion };
}

/** Indices of the `k` highest scores, highest first (ties keep the lower index first). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, k);
}
