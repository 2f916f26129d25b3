// src/core/data/manifest.ts: a manifest the build writes is accepted as is; each kind of damage is refused with
// a message that names the file and the field, before any shard is downloaded.
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/core/errors.ts';
import { shardsFor, validateManifest, type DatasetManifest } from '../../../src/core/data/manifest.ts';

const SHA = 'a'.repeat(64);

function validManifest(): DatasetManifest {
  return {
    formatVersion: 1,
    name: 'quickdraw',
    imageSizePx: 28,
    drawingsPerShard: 1000,
    categories: [{ name: 'cat', drawingCount: 1500 }, { name: 'The Eiffel Tower', drawingCount: 25 }],
    shards: [
      { file: 'shards/000-0000.qds', category: 'cat', index: 0, firstIndex: 0, drawingCount: 1000, sizeBytes: 784_032, sha256: SHA, hasStrokes: false },
      { file: 'shards/000-0001.qds', category: 'cat', index: 1, firstIndex: 1000, drawingCount: 500, sizeBytes: 392_032, sha256: SHA, hasStrokes: false },
      { file: 'shards/001-0000.qds', category: 'The Eiffel Tower', index: 0, firstIndex: 0, drawingCount: 25, sizeBytes: 30_000, sha256: SHA, hasStrokes: true },
    ],
  };
}

type Damage = (m: Record<string, unknown> & { shards: Record<string, unknown>[]; categories: Record<string, unknown>[] }) => void;

function errorFor(damage: Damage): DataError {
  // A deep copy loosened to plain records so each case can break it in its own way.
  const value = JSON.parse(JSON.stringify(validManifest())) as Parameters<Damage>[0];
  damage(value);
  try {
    validateManifest(value, 'data/manifest.json');
  } catch (error) {
    if (error instanceof DataError) return error;
    throw error;
  }
  throw new Error('expected the manifest to be refused');
}

describe('validateManifest', () => {
  it('accepts a valid manifest and returns it unchanged', () => {
    expect(validateManifest(JSON.parse(JSON.stringify(validManifest())))).toEqual(validManifest());
  });

  it.each<[string, Damage, RegExp]>([
    ['another format version', (m) => { m['formatVersion'] = 3; }, /formatVersion is 3, expected 1 or 2/],
    ['no name', (m) => { delete m['name']; }, /"name" is missing/],
    ['another image size', (m) => { m['imageSizePx'] = 32; }, /"imageSizePx" must be 28/],
    ['zero drawings per shard', (m) => { m['drawingsPerShard'] = 0; }, /"drawingsPerShard"/],
    ['no categories', (m) => { m['categories'] = []; }, /"categories" must be a non-empty list/],
    ['no shard list', (m) => { Object.assign(m, { shards: {} }); }, /"shards" must be a list/],
    ['a category without a count', (m) => { delete m.categories[0]?.['drawingCount']; }, /category #0 needs/],
    ['a category listed twice', (m) => { m.categories.push({ name: 'cat', drawingCount: 0 }); }, /listed twice/],
    ['a non-ASCII shard file', (m) => { if (m.shards[0]) m.shards[0]['file'] = 'shards/crème.qds'; }, /shard #0 has a bad "file"/],
    ['a shard file outside the folder', (m) => { if (m.shards[0]) m.shards[0]['file'] = '../secret.qds'; }, /shard #0 has a bad "file"/],
    ['a shard of an unknown category', (m) => { if (m.shards[2]) m.shards[2]['category'] = 'dog'; }, /unknown category "dog"/],
    ['a fractional count', (m) => { if (m.shards[0]) m.shards[0]['sizeBytes'] = 1.5; }, /whole-number/],
    ['an empty shard', (m) => { if (m.shards[2]) m.shards[2]['drawingCount'] = 0; }, /whole-number/],
    ['a bad checksum', (m) => { if (m.shards[0]) m.shards[0]['sha256'] = 'ABC'; }, /no valid "sha256"/],
    ['no hasStrokes', (m) => { delete m.shards[0]?.['hasStrokes']; }, /needs "hasStrokes"/],
    ['a gap between shards', (m) => { if (m.shards[1]) m.shards[1]['firstIndex'] = 1200; }, /not contiguous/],
    ['a missing first shard', (m) => { m.shards.shift(); }, /not contiguous/],
    ['a wrong category total', (m) => { if (m.categories[0]) m.categories[0]['drawingCount'] = 2000; }, /claims 2000 drawings but its shards hold 1500/],
  ])('refuses %s', (_, damage, message) => {
    const error = errorFor(damage);
    expect(error.code).toBe('bad-manifest');
    expect(error.file).toBe('data/manifest.json');
    expect(error.message).toMatch(/^data\/manifest\.json is not a valid dataset manifest: /);
    expect(error.message).toMatch(message);
  });

  it('refuses something that is not an object', () => {
    expect(() => validateManifest([], 'm.json')).toThrow(/not a JSON object/);
  });
});

describe('shardsFor', () => {
  it('lists only the shards needed for the first N drawings, in order', () => {
    const manifest = validManifest();
    expect(shardsFor(manifest, 'cat', 1000).map((s) => s.file)).toEqual(['shards/000-0000.qds']);
    expect(shardsFor(manifest, 'cat', 1001).map((s) => s.file)).toEqual(['shards/000-0000.qds', 'shards/000-0001.qds']);
    expect(shardsFor(manifest, 'dog', 1000)).toEqual([]);
  });
});
