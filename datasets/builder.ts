// buildDataset: turns Google-format Quick, Draw! files (a directory or a base URL) into the versioned,
// checksummed shards + manifest.json that the app serves and the ingest worker verifies. Same input,
// same bytes: no timestamps, fixed order. Node only; used by the `npm run dataset` CLI and `npm run assets`.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { QUICKDRAW_CATEGORIES } from '../src/core/data/categories.ts';
import { DataError } from '../src/core/errors.ts';
import { validateManifest, type DatasetManifest, type ShardEntry } from '../src/core/data/manifest.ts';
import type { Strokes } from '../src/core/data/ndjson.ts';
import { strokeFormatOf } from '../src/core/data/ndjson.ts';
import { BITMAP_BYTES, BITMAP_SIDE_PX, rasterizeStrokes, strokesToBitmap } from '../src/core/data/render.ts';
import { sha256Hex } from '../src/core/data/sha256.ts';
import { encodeShard, SHARD_FORMAT_VERSION } from '../src/core/data/shard.ts';
import { BuildError, FORMAT_CHOICES, openSource, type DataSource, type FormatChoice, type SourceFile, type SourceFormat } from './sources.ts';

export const DEFAULT_DRAWINGS_PER_SHARD = 1000;
export const DEFAULT_DATASET_NAME = 'quickdraw';
export const SHARDS_FOLDER = 'shards';

export interface BuildOptions {
  /** A directory (Google's sub-folders or the files directly) or a base URL such as Google's bucket. */
  source: string;
  /** Category names; a name's position here is its index in shard file names. */
  categories: readonly string[];
  /** Output directory; its manifest.json and shards/ are replaced. */
  out: string;
  /** Most drawings taken per category (the first ones of each file); all when left out. */
  perCategory?: number;
  /** Per-category exceptions to `perCategory`. */
  perCategoryByName?: Readonly<Record<string, number>>;
  drawingsPerShard?: number;
  format?: FormatChoice;
  name?: string;
  /** Categories read at once; more overlaps network round trips. */
  concurrency?: number;
  onProgress?: (progress: BuildProgress) => void;
}

export type BuildProgress = {
  kind: 'category-done';
  category: string;
  /** How many categories are finished, this one included. */
  done: number;
  total: number;
  format: SourceFormat;
  location: string;
  drawingCount: number;
  shardCount: number;
};

interface Plan {
  name: string;
  drawingsPerShard: number;
  concurrency: number;
  limitOf: (category: string) => number;
}

const isPositiveInteger = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= 0xffffffff;

function planFrom(options: BuildOptions): Plan {
  const drawingsPerShard = options.drawingsPerShard ?? DEFAULT_DRAWINGS_PER_SHARD;
  if (!isPositiveInteger(drawingsPerShard)) {
    throw new BuildError('bad-option', `--drawings-per-shard must be a positive whole number, not ${drawingsPerShard}.`, '--drawings-per-shard');
  }
  const limits = [options.perCategory ?? Infinity, ...Object.values(options.perCategoryByName ?? {})];
  for (const limit of limits) {
    if (limit !== Infinity && !isPositiveInteger(limit)) {
      throw new BuildError('bad-option', `--per-category must be a positive whole number, not ${limit}.`, '--per-category');
    }
  }
  const format = options.format ?? 'auto';
  if (!FORMAT_CHOICES.includes(format)) {
    throw new BuildError('bad-option', `--format must be one of ${FORMAT_CHOICES.join(', ')}, not "${String(format)}".`, '--format');
  }
  const name = options.name ?? DEFAULT_DATASET_NAME;
  if (name.trim().length === 0) throw new BuildError('bad-option', '--name must not be empty.', '--name');
  if (options.categories.length === 0) throw new BuildError('bad-option', 'No categories given: pass --categories "cat,dog".', '--categories');
  const seen = new Set<string>();
  for (const category of options.categories) {
    if (category.trim().length === 0 || category !== category.trim()) {
      throw new BuildError('bad-option', `Category "${category}" is empty or has spaces around it.`, '--categories');
    }
    if (seen.has(category)) throw new BuildError('bad-option', `Category "${category}" is listed twice.`, '--categories');
    seen.add(category);
  }
  const byName = options.perCategoryByName ?? {};
  return {
    name,
    drawingsPerShard,
    concurrency: Math.max(1, options.concurrency ?? 4),
    limitOf: (category) => byName[category] ?? options.perCategory ?? Infinity,
  };
}

/** Finds each category's file, or explains why there is none, before anything in `out` is touched. */
async function locateAll(source: DataSource, categories: readonly string[], format: FormatChoice): Promise<SourceFile[]> {
  return Promise.all(categories.map(async (category) => {
    const { file, tried } = await source.locate(category, format);
    if (file !== null) return file;
    const where = tried.length === 1 ? `${tried[0] ?? ''} does not exist` : `none of ${tried.join(', ')} exists`;
    if (!QUICKDRAW_CATEGORIES.includes(category)) {
      const lower = category.toLowerCase();
      const near = QUICKDRAW_CATEGORIES.find((known) => known.toLowerCase() === lower);
      const hint = near === undefined ? '' : ` Did you mean "${near}"?`;
      throw new DataError('unknown-category',
        `"${category}" is not a Quick, Draw! category and there is no file for it: ${where}.${hint}`, tried[0]);
    }
    throw new BuildError('missing-file', `No file for category "${category}" in ${source.description}: ${where}.`, tried[0]);
  }));
}

interface CategoryDrawings {
  count: number;
  bitmaps: Uint8Array;
  strokes: Strokes[] | null;
}

async function readCategory(source: DataSource, file: SourceFile, limit: number): Promise<CategoryDrawings> {
  if (file.format === 'npy') {
    const bitmaps = await source.readNpy(file, limit);
    return { count: bitmaps.length / BITMAP_BYTES, bitmaps, strokes: null };
  }
  const records = await source.readNdjson(file, limit);
  const bitmaps = new Uint8Array(records.length * BITMAP_BYTES);
  records.forEach((record, i) => {
    // Simplified strokes are already in Google's 0–255 box; raw ones (with timestamps) need normalising first.
    const bitmap = strokeFormatOf(record) === 'raw' ? strokesToBitmap(record.drawing) : rasterizeStrokes(record.drawing);
    bitmaps.set(bitmap, i * BITMAP_BYTES);
  });
  return { count: records.length, bitmaps, strokes: records.map((record) => record.drawing) };
}

export function shardFileName(categoryIndex: number, shardIndex: number): string {
  return `${SHARDS_FOLDER}/${String(categoryIndex).padStart(3, '0')}-${String(shardIndex).padStart(4, '0')}.qds`;
}

async function writeShards(out: string, category: string, categoryIndex: number, drawings: CategoryDrawings, drawingsPerShard: number): Promise<ShardEntry[]> {
  const entries: ShardEntry[] = [];
  for (let firstIndex = 0, index = 0; firstIndex < drawings.count; firstIndex += drawingsPerShard, index++) {
    const end = Math.min(drawings.count, firstIndex + drawingsPerShard);
    const bytes = encodeShard({
      imageSizePx: BITMAP_SIDE_PX,
      firstIndex,
      bitmaps: drawings.bitmaps.subarray(firstIndex * BITMAP_BYTES, end * BITMAP_BYTES),
      strokes: drawings.strokes === null ? null : drawings.strokes.slice(firstIndex, end),
    });
    const file = shardFileName(categoryIndex, index);
    await writeFile(path.join(out, file), bytes);
    entries.push({
      file, category, index, firstIndex, drawingCount: end - firstIndex,
      sizeBytes: bytes.length, sha256: await sha256Hex(bytes), hasStrokes: drawings.strokes !== null,
    });
  }
  return entries;
}

/** Runs `work` over `items` with at most `limit` in flight; results keep the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      // `index < items.length` was just checked; the array has no holes.
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Builds `<out>/manifest.json` and `<out>/shards/*.qds`; throws DataError or BuildError naming the bad file. */
export async function buildDataset(options: BuildOptions): Promise<DatasetManifest> {
  const plan = planFrom(options);
  const source = openSource(options.source);
  const files = await locateAll(source, options.categories, options.format ?? 'auto');

  const out = path.resolve(options.out);
  const shardsDir = path.join(out, SHARDS_FOLDER);
  const manifestPath = path.join(out, 'manifest.json');
  // A stale manifest must never describe new shards, and stale shards must not linger beside new ones.
  await rm(manifestPath, { force: true });
  await rm(shardsDir, { recursive: true, force: true });
  await mkdir(shardsDir, { recursive: true });

  try {
    let done = 0;
    const perCategory = await mapLimited(options.categories, plan.concurrency, async (category, categoryIndex) => {
      // locateAll returned one file per category, in order.
      const file = files[categoryIndex] as SourceFile;
      const drawings = await readCategory(source, file, plan.limitOf(category));
      const shards = await writeShards(out, category, categoryIndex, drawings, plan.drawingsPerShard);
      done += 1;
      options.onProgress?.({
        kind: 'category-done', category, done, total: options.categories.length,
        format: file.format, location: file.location, drawingCount: drawings.count, shardCount: shards.length,
      });
      return { name: category, drawingCount: drawings.count, shards };
    });

    const manifest: DatasetManifest = {
      formatVersion: SHARD_FORMAT_VERSION,
      name: plan.name,
      imageSizePx: BITMAP_SIDE_PX,
      drawingsPerShard: plan.drawingsPerShard,
      categories: perCategory.map(({ name, drawingCount }) => ({ name, drawingCount })),
      shards: perCategory.flatMap((c) => c.shards),
    };
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    // The reader's own check, so a build can never publish a manifest the app would refuse.
    validateManifest(JSON.parse(text), manifestPath);
    await writeFile(manifestPath, text);
    return manifest;
  } catch (error) {
    await rm(shardsDir, { recursive: true, force: true });
    throw error;
  }
}
