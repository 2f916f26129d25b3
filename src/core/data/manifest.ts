// The dataset manifest (`manifest.json` beside the shards): what a dataset holds and how to verify it.
// Written by `npm run dataset`, validated by the ingest worker before any download. Pure.
import { DataError } from '../errors.ts';
import { READABLE_FORMAT_VERSIONS } from './shard.ts';
import { BITMAP_SIDE_PX } from './render.ts';

export interface ShardEntry {
  /** Path relative to manifest.json; ASCII only (category names with spaces or accents are not used in it). */
  file: string;
  category: string;
  /** Position of this shard within its category, from 0. */
  index: number;
  firstIndex: number;
  drawingCount: number;
  sizeBytes: number;
  sha256: string;
  hasStrokes: boolean;
}

export interface CategoryEntry {
  name: string;
  drawingCount: number;
}

export interface DatasetManifest {
  formatVersion: number;
  /** Identifies the dataset in storage, e.g. "quickdraw-default". */
  name: string;
  imageSizePx: number;
  drawingsPerShard: number;
  categories: CategoryEntry[];
  shards: ShardEntry[];
}

function fail(problem: string, file: string): never {
  throw new DataError('bad-manifest', `${file} is not a valid dataset manifest: ${problem}.`, file);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;

/** Checks every field and the consistency between shards and category counts; returns the typed manifest. */
export function validateManifest(value: unknown, file = 'manifest.json'): DatasetManifest {
  if (!isRecord(value)) fail('not a JSON object', file);
  const version = value['formatVersion'];
  if (typeof version !== 'number' || !READABLE_FORMAT_VERSIONS.includes(version)) {
    fail(`formatVersion is ${String(version)}, expected ${READABLE_FORMAT_VERSIONS.join(' or ')}`, file);
  }
  const name = value['name'];
  if (typeof name !== 'string' || name.length === 0) fail('"name" is missing', file);
  const imageSizePx = value['imageSizePx'];
  if (imageSizePx !== BITMAP_SIDE_PX) fail(`"imageSizePx" must be ${BITMAP_SIDE_PX}`, file);
  const drawingsPerShard = value['drawingsPerShard'];
  if (!isCount(drawingsPerShard) || drawingsPerShard === 0) fail('"drawingsPerShard" must be a positive integer', file);
  const categoriesValue = value['categories'];
  const shardsValue = value['shards'];
  if (!Array.isArray(categoriesValue) || categoriesValue.length === 0) fail('"categories" must be a non-empty list', file);
  if (!Array.isArray(shardsValue)) fail('"shards" must be a list', file);

  const categories: CategoryEntry[] = categoriesValue.map((entry, i) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string' || entry['name'].length === 0 || !isCount(entry['drawingCount'])) {
      fail(`category #${i} needs a "name" and a "drawingCount"`, file);
    }
    return { name: entry['name'], drawingCount: entry['drawingCount'] };
  });
  const names = new Set(categories.map((c) => c.name));
  if (names.size !== categories.length) fail('a category is listed twice', file);

  const shards: ShardEntry[] = shardsValue.map((entry, i) => {
    if (!isRecord(entry)) fail(`shard #${i} is not an object`, file);
    const { file: shardFile, category, index, firstIndex, drawingCount, sizeBytes, sha256, hasStrokes } = entry;
    if (typeof shardFile !== 'string' || !/^[\x21-\x7e]+$/.test(shardFile) || shardFile.includes('..')) fail(`shard #${i} has a bad "file"`, file);
    if (typeof category !== 'string' || !names.has(category)) fail(`shard #${i} names unknown category "${String(category)}"`, file);
    if (!isCount(index) || !isCount(firstIndex) || !isCount(drawingCount) || drawingCount === 0 || !isCount(sizeBytes)) {
      fail(`shard #${i} needs whole-number "index", "firstIndex", "drawingCount" (> 0) and "sizeBytes"`, file);
    }
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) fail(`shard #${i} has no valid "sha256"`, file);
    if (typeof hasStrokes !== 'boolean') fail(`shard #${i} needs "hasStrokes"`, file);
    return { file: shardFile, category, index, firstIndex, drawingCount, sizeBytes, sha256, hasStrokes };
  });

  for (const category of categories) {
    const own = shards.filter((s) => s.category === category.name).sort((a, b) => a.index - b.index);
    let next = 0;
    own.forEach((shard, position) => {
      if (shard.index !== position || shard.firstIndex !== next) fail(`shards of "${category.name}" are not contiguous`, file);
      next += shard.drawingCount;
    });
    if (next !== category.drawingCount) fail(`"${category.name}" claims ${category.drawingCount} drawings but its shards hold ${next}`, file);
  }
  return { formatVersion: version, name, imageSizePx, drawingsPerShard, categories, shards };
}

/** The shards needed for the first `maxPerCategory` drawings of `category`, in order. */
export function shardsFor(manifest: DatasetManifest, category: string, maxPerCategory: number): ShardEntry[] {
  return manifest.shards
    .filter((s) => s.category === category && s.firstIndex < maxPerCategory)
    .sort((a, b) => a.index - b.index);
}
