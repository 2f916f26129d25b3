// datasets/builder.ts + build.ts: Google-format files become byte-identical shards and a manifest the app
// accepts; names with spaces and accents work; every kind of bad input stops the build with the file named.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/core/errors.ts';
import { validateManifest } from '../../../src/core/data/manifest.ts';
import { rasterizeStrokes, strokesToBitmap } from '../../../src/core/data/render.ts';
import { sha256Hex } from '../../../src/core/data/sha256.ts';
import { decodeShard } from '../../../src/core/data/shard.ts';
import { buildDataset, type BuildOptions } from '../../../datasets/build.ts';
import { BuildError } from '../../../datasets/sources.ts';
import { fixtureRows, HAS_SHARED_QUICKDRAW, makeNpy, ndjsonLine, REPO_ROOT, SHARED_QUICKDRAW, simplifiedDrawing, withTempDir } from '../fixtures.ts';

const ACCENTED = 'crème brûlée';

/** Google's layout: cat (npy 25 rows + simplified), The Eiffel Tower (simplified 7), crème brûlée (raw 4). */
async function writeGoogleLayout(root: string): Promise<void> {
  for (const folder of ['numpy_bitmap', 'simplified', 'raw']) await mkdir(path.join(root, folder), { recursive: true });
  await writeFile(path.join(root, 'numpy_bitmap', 'cat.npy'), makeNpy(25));
  const lines = (word: string, n: number, drawing: (i: number) => number[][][]): string =>
    `${Array.from({ length: n }, (_, i) => ndjsonLine(word, drawing(i), String(i))).join('\n')}\n`;
  await writeFile(path.join(root, 'simplified', 'cat.ndjson'), lines('cat', 3, simplifiedDrawing));
  await writeFile(path.join(root, 'simplified', 'The Eiffel Tower.ndjson'), lines('The Eiffel Tower', 7, simplifiedDrawing));
  await writeFile(path.join(root, 'raw', `${ACCENTED}.ndjson`),
    lines(ACCENTED, 4, (i) => [[[100 + i, 300, 500], [40, 90 + i * 10, 60], [0, 20, 40]]]));
}

async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      files.set(path.relative(dir, full), await readFile(full));
    }
  }
  return files;
}

async function failureOf(options: BuildOptions): Promise<Error> {
  try {
    await buildDataset(options);
  } catch (error) {
    if (error instanceof DataError || error instanceof BuildError) return error;
    throw error;
  }
  throw new Error('expected the build to fail');
}

describe('buildDataset', () => {
  it('writes the same bytes on every run, and a manifest the app accepts', () => withTempDir(async (dir) => {
    await writeGoogleLayout(path.join(dir, 'src'));
    const options = (out: string): BuildOptions => ({
      source: path.join(dir, 'src'), categories: ['cat', 'The Eiffel Tower', ACCENTED], out, perCategory: 22, drawingsPerShard: 10,
    });
    const manifest = await buildDataset(options(path.join(dir, 'a')));
    await buildDataset(options(path.join(dir, 'b')));
    const a = await filesUnder(path.join(dir, 'a'));
    const b = await filesUnder(path.join(dir, 'b'));
    expect([...a.keys()].sort()).toEqual(['manifest.json', 'shards/000-0000.qds', 'shards/000-0001.qds', 'shards/000-0002.qds',
      'shards/001-0000.qds', 'shards/002-0000.qds']);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name) ?? Buffer.alloc(0)), name).toBe(true);

    const text = a.get('manifest.json')?.toString('utf8') ?? '';
    expect(text.endsWith('}\n')).toBe(true);
    expect(validateManifest(JSON.parse(text))).toEqual(manifest);
    expect(manifest.categories).toEqual([{ name: 'cat', drawingCount: 22 }, { name: 'The Eiffel Tower', drawingCount: 7 }, { name: ACCENTED, drawingCount: 4 }]);
    expect(manifest.shards.map((s) => [s.category, s.index, s.firstIndex, s.drawingCount, s.hasStrokes])).toEqual([
      ['cat', 0, 0, 10, false], ['cat', 1, 10, 10, false], ['cat', 2, 20, 2, false], ['The Eiffel Tower', 0, 0, 7, true], [ACCENTED, 0, 0, 4, true],
    ]);
    for (const shard of manifest.shards) {
      const bytes = a.get(shard.file) ?? Buffer.alloc(0);
      expect(bytes.length).toBe(shard.sizeBytes);
      expect(await sha256Hex(bytes)).toBe(shard.sha256);
    }
  }));

  it('stores npy rows as they are and renders strokes (simplified as is, raw normalised)', () => withTempDir(async (dir) => {
    await writeGoogleLayout(path.join(dir, 'src'));
    const manifest = await buildDataset({ source: path.join(dir, 'src'), categories: ['cat', 'The Eiffel Tower', ACCENTED], out: dir, drawingsPerShard: 20 });
    const shard = async (file: string) => decodeShard(new Uint8Array(await readFile(path.join(dir, file))), file);
    const secondCat = await shard('shards/000-0001.qds');
    expect(secondCat.firstIndex).toBe(20);
    expect(secondCat.bitmaps).toEqual(fixtureRows(25).subarray(20 * 784));
    const eiffel = await shard('shards/001-0000.qds');
    expect(eiffel.strokes?.[3]).toEqual(simplifiedDrawing(3));
    expect(eiffel.bitmaps.subarray(3 * 784, 4 * 784)).toEqual(rasterizeStrokes(simplifiedDrawing(3)));
    const raw = await shard('shards/002-0000.qds');
    const firstRaw = raw.strokes?.[0] ?? [];
    expect(firstRaw[0]?.length).toBe(3);
    expect(raw.bitmaps.subarray(0, 784)).toEqual(strokesToBitmap(firstRaw));
    expect(manifest.drawingsPerShard).toBe(20);
  }));

  it('prefers npy under auto, obeys --format, and reads files placed directly in the source', () => withTempDir(async (dir) => {
    await writeGoogleLayout(path.join(dir, 'google'));
    const simplified = await buildDataset({ source: path.join(dir, 'google'), categories: ['cat'], out: path.join(dir, 's'), format: 'simplified' });
    expect(simplified.categories[0]?.drawingCount).toBe(3);
    expect(simplified.shards[0]?.hasStrokes).toBe(true);
    await mkdir(path.join(dir, 'flat'));
    await writeFile(path.join(dir, 'flat', `${ACCENTED}.npy`), makeNpy(3));
    await writeFile(path.join(dir, 'flat', 'The Eiffel Tower.ndjson'), `${ndjsonLine('The Eiffel Tower', simplifiedDrawing(1))}\n`);
    const flat = await buildDataset({ source: path.join(dir, 'flat'), categories: [ACCENTED, 'The Eiffel Tower'], out: path.join(dir, 'f') });
    expect(flat.shards.map((s) => [s.category, s.drawingCount, s.hasStrokes])).toEqual([[ACCENTED, 3, false], ['The Eiffel Tower', 1, true]]);
  }));

  it('clears stale shards and manifests from the output folder', () => withTempDir(async (dir) => {
    await writeGoogleLayout(path.join(dir, 'src'));
    await mkdir(path.join(dir, 'out', 'shards'), { recursive: true });
    await writeFile(path.join(dir, 'out', 'shards', '007-0003.qds'), 'old');
    await buildDataset({ source: path.join(dir, 'src'), categories: ['cat'], out: path.join(dir, 'out') });
    expect(await readdir(path.join(dir, 'out', 'shards'))).toEqual(['000-0000.qds']);
    await writeFile(path.join(dir, 'src', 'numpy_bitmap', 'cat.npy'), new Uint8Array(0));
    await failureOf({ source: path.join(dir, 'src'), categories: ['cat'], out: path.join(dir, 'out') });
    // A failed build leaves no manifest behind that could describe shards that are not there.
    expect(await readdir(path.join(dir, 'out'))).toEqual([]);
  }));
});

describe('buildDataset refuses bad input, naming the file', () => {
  const cases: [string, (dir: string) => Promise<string>, string, RegExp][] = [
    ['a truncated .npy', async (dir) => {
      const bytes = makeNpy(5);
      await writeFile(path.join(dir, 'cat.npy'), bytes.subarray(0, bytes.length - 784 * 2 - 100));
      return 'cat';
    }, 'truncated', /cat\.npy is truncated: its header promises 5 drawings but only 2 are complete/],
    ['a wrong .npy header', async (dir) => {
      await writeFile(path.join(dir, 'cat.npy'), makeNpy(2, { shape: '(2, 28, 28)' }));
      return 'cat';
    }, 'bad-header', /cat\.npy has shape \(2, 28, 28\); expected \(N, 784\)/],
    ['a file that is not .npy', async (dir) => {
      await writeFile(path.join(dir, 'cat.npy'), 'PK\u0003\u0004 a zip file');
      return 'cat';
    }, 'bad-header', /cat\.npy is not a NumPy \.npy file/],
    ['an empty .npy', async (dir) => {
      await writeFile(path.join(dir, 'cat.npy'), '');
      return 'cat';
    }, 'empty', /cat\.npy is empty/],
    ['an empty .ndjson', async (dir) => {
      await writeFile(path.join(dir, `${ACCENTED}.ndjson`), '\n');
      return ACCENTED;
    }, 'empty', /crème brûlée\.ndjson holds no drawings/],
    ['a cut-off .ndjson line', async (dir) => {
      await writeFile(path.join(dir, 'cat.ndjson'), `${ndjsonLine('cat', simplifiedDrawing(1))}\n{"word":"cat","drawing":[[[1,2`);
      return 'cat';
    }, 'bad-record', /cat\.ndjson line 2 is not valid JSON/],
    ['an unknown category', async () => 'kat', 'unknown-category', /"kat" is not a Quick, Draw! category and there is no file for it: none of .*numpy_bitmap\/kat\.npy, .* exists/],
    ['a known category with no file', async () => 'dog', 'missing-file', /No file for category "dog" in .*: .*numpy_bitmap\/dog\.npy, .*dog\.npy, .*simplified\/dog\.ndjson/],
  ];

  it.each(cases)('%s', (_, prepare, code, message) => withTempDir(async (dir) => {
    const category = await prepare(dir);
    const error = await failureOf({ source: dir, categories: [category], out: path.join(dir, 'out') });
    expect(error).toHaveProperty('code', code);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(dir);
  }));

  it('suggests the right spelling of a category', () => withTempDir(async (dir) => {
    const error = await failureOf({ source: dir, categories: ['the eiffel tower'], out: path.join(dir, 'out') });
    expect(error.message).toContain('Did you mean "The Eiffel Tower"?');
  }));

  it.each<[string, Partial<BuildOptions>, RegExp]>([
    ['no categories', { categories: [] }, /No categories given/],
    ['a duplicate category', { categories: ['cat', 'cat'] }, /"cat" is listed twice/],
    ['a zero per-category', { perCategory: 0 }, /--per-category must be a positive whole number/],
    ['a fractional shard size', { drawingsPerShard: 2.5 }, /--drawings-per-shard must be a positive whole number/],
  ])('refuses %s', async (_, change, message) => {
    const error = await failureOf({ source: '.', categories: ['cat'], out: '/nonexistent', ...change });
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toMatch(message);
  });
});

describe('npm run dataset (the CLI)', () => {
  it('exits non-zero with one message naming the bad file', () => withTempDir(async (dir) => {
    await writeFile(path.join(dir, 'cat.npy'), makeNpy(3).subarray(0, 500));
    const result = spawnSync('npx', ['tsx', 'datasets/build.ts', '--source', dir, '--categories', 'cat', '--out', path.join(dir, 'out')],
      { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`error: ${path.join(dir, 'cat.npy')} is truncated`);
    expect(result.stdout).not.toContain('Wrote');
  }));
});

describe.skipIf(!HAS_SHARED_QUICKDRAW)('on ../shared/quickdraw (needs it; skipped where it is absent)', () => {
  it('builds cat (npy) and The Eiffel Tower (simplified) identically twice', () => withTempDir(async (dir) => {
    const options = (out: string): BuildOptions => ({ source: SHARED_QUICKDRAW, categories: ['cat', 'The Eiffel Tower'], perCategory: 100, out });
    const manifest = await buildDataset(options(path.join(dir, 'a')));
    await buildDataset(options(path.join(dir, 'b')));
    expect(manifest.categories).toEqual([{ name: 'cat', drawingCount: 100 }, { name: 'The Eiffel Tower', drawingCount: 25 }]);
    const a = await filesUnder(path.join(dir, 'a'));
    const b = await filesUnder(path.join(dir, 'b'));
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name) ?? Buffer.alloc(0)), name).toBe(true);
  }));
});
