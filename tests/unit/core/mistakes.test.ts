// The gallery of misclassified drawings: which test drawings count as mistakes, their order, the cap, the
// bitmaps kept with them, and filtering by confusion-matrix cell in agreement with the matrix.
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/core/inference/metrics.ts';
import {
  describeMistake, evaluateWithMistakes, MISTAKES_KEPT, mistakeCount, mistakesIn, pickMistakes,
} from '../../../src/core/inference/mistakes.ts';

const LABELS = ['cat', 'dog', 'sun'];

/** Drawing n is a 4-byte "bitmap" filled with n, so a test can tell whose bitmap a mistake carries. */
function bitmapsOf(count: number, bytes = 4): Uint8Array {
  return Uint8Array.from({ length: count * bytes }, (_, i) => Math.floor(i / bytes));
}

// Five drawings: 0 right, 1 cat→dog at 0.5, 2 dog→cat at 0.9, 3 right, 4 sun→dog at 0.7.
const PROBABILITIES = new Float32Array([
  0.8, 0.1, 0.1,
  0.3, 0.5, 0.2,
  0.9, 0.05, 0.05,
  0.1, 0.1, 0.8,
  0.2, 0.7, 0.1,
]);
const ACTUAL = [0, 0, 1, 2, 2];

describe('pickMistakes', () => {
  it('keeps the wrong top-1 guesses, most confident first, each with its own bitmap', () => {
    const gallery = pickMistakes(PROBABILITIES, ACTUAL, 3, bitmapsOf(5), 4);
    expect(gallery.total).toBe(3);
    expect(gallery.items.map((m) => [m.index, m.actual, m.predicted])).toEqual([[2, 1, 0], [4, 2, 1], [1, 0, 1]]);
    expect(gallery.items.map((m) => m.confidence)).toEqual([0.9, 0.7, 0.5].map((v) => Math.fround(v)));
    expect([...gallery.items[0]!.bitmap]).toEqual([2, 2, 2, 2]);
    // A copy, not a view into the split: the split's buffer is not kept alive (or stored) with the run.
    expect(gallery.items[0]!.bitmap.buffer.byteLength).toBe(4);
  });

  it('caps the kept mistakes but counts them all', () => {
    const gallery = pickMistakes(PROBABILITIES, ACTUAL, 3, bitmapsOf(5), 4, 2);
    expect(gallery.total).toBe(3);
    expect(gallery.items.map((m) => m.index)).toEqual([2, 4]);
  });

  it('keeps the first MISTAKES_KEPT of many, in split order when equally confident', () => {
    const count = MISTAKES_KEPT + 20;
    const probabilities = new Float32Array(count * 2);
    for (let n = 0; n < count; n++) probabilities.set([0.6, 0.4], n * 2);
    const gallery = pickMistakes(probabilities, new Array<number>(count).fill(1), 2, bitmapsOf(count, 1), 1);
    expect(gallery.total).toBe(count);
    expect(gallery.items).toHaveLength(MISTAKES_KEPT);
    expect(gallery.items.map((m) => m.index)).toEqual(Array.from({ length: MISTAKES_KEPT }, (_, i) => i));
  });

  it('finds no mistakes in perfect predictions and rejects mismatched inputs', () => {
    expect(pickMistakes(new Float32Array([1, 0, 0, 1]), [0, 1], 2, bitmapsOf(2), 4)).toEqual({ total: 0, items: [] });
    expect(() => pickMistakes(PROBABILITIES, ACTUAL, 3, bitmapsOf(4), 4)).toThrow(/bitmap bytes/);
    expect(() => pickMistakes(PROBABILITIES, [0, 1], 3, bitmapsOf(2), 4)).toThrow(/scores/);
  });

  it('breaks a tie between classes as the confusion matrix does', () => {
    // Scores tied between cat and dog: evaluate counts the guess as cat (the lower index), so a true cat is right.
    const tied = new Float32Array([0.45, 0.45, 0.1, 0.45, 0.45, 0.1]);
    const result = evaluateWithMistakes(tied, [0, 1], LABELS, bitmapsOf(2), 4);
    expect(result.confusion[0]).toEqual([1, 0, 0]);
    expect(result.mistakes?.items.map((m) => [m.actual, m.predicted])).toEqual([[1, 0]]);
  });
});

describe('evaluateWithMistakes', () => {
  it('adds the gallery to the same metrics evaluate gives, with one mistake per off-diagonal count', () => {
    const result = evaluateWithMistakes(PROBABILITIES, ACTUAL, LABELS, bitmapsOf(5), 4);
    const { mistakes, ...metrics } = result;
    expect(metrics).toEqual(evaluate(PROBABILITIES, ACTUAL, LABELS));
    expect(mistakes?.total).toBe(mistakeCount(result.confusion, null));
    for (const [i, row] of result.confusion.entries()) {
      for (const [j, count] of row.entries()) {
        expect(mistakesIn(mistakes!, { actual: i, predicted: j })).toHaveLength(i === j ? 0 : count);
        expect(mistakeCount(result.confusion, { actual: i, predicted: j })).toBe(i === j ? 0 : count);
      }
    }
  });
});

describe('mistakesIn and describeMistake', () => {
  const gallery = pickMistakes(PROBABILITIES, ACTUAL, 3, bitmapsOf(5), 4);
  it('filters to one cell keeping the order, and gives everything back for no cell', () => {
    expect(mistakesIn(gallery, { actual: 2, predicted: 1 }).map((m) => m.index)).toEqual([4]);
    expect(mistakesIn(gallery, { actual: 1, predicted: 2 })).toEqual([]);
    expect(mistakesIn(gallery, null)).toBe(gallery.items);
  });
  it('reads like "cat guessed as dog 50%"', () => {
    expect(gallery.items.map((m) => describeMistake(m, LABELS))).toEqual(['dog guessed as cat 90%', 'sun guessed as dog 70%', 'cat guessed as dog 50%']);
  });
});
