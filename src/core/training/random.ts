// Seeded, serializable randomness for training (shuffles, augmentation, splits): a checkpoint stores `state`
// so a resumed run draws the same numbers it would have drawn. Pure TS, any thread.

/** mulberry32: a 32-bit state, fast, and good enough for shuffling and augmentation. */
export class Random {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [-magnitude, magnitude]. */
  symmetric(magnitude: number): number {
    return (this.next() * 2 - 1) * magnitude;
  }

  /** Fisher–Yates in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const a = items[i], b = items[j];
      items[i] = b;
      items[j] = a;
    }
    return items;
  }
}

/** The shuffled training order of one epoch, derived from the seed so a resumed epoch sees the same order (and
 * scale/recipe.py epoch_order gives the same one). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  return new Random((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
}

/** A unique, roughly time-ordered id such as "run-mfx2k1a-3f9z" for records that must never overwrite others. */
export function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

/** FNV-1a over the UTF-16 code units of `text`, as a fraction in [0, 1): a stable hash for splits. */
export function hashToUnit(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // FNV's low bits mix poorly for short keys that differ only at the end; one avalanche round fixes that.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return (hash >>> 0) / 4294967296;
}

export type Split = 'train' | 'validation' | 'test';

/** Which split a drawing belongs to, from its id alone: the same drawing is always in the same split. */
export function splitOf(drawingId: string, validationFraction: number, testFraction: number): Split {
  const u = hashToUnit(drawingId);
  if (u < testFraction) return 'test';
  if (u < testFraction + validationFraction) return 'validation';
  return 'train';
}
