// What a download will do, decided before any shard is fetched: which categories the manifest must serve, the
// shards for the first `maxPerCategory` drawings of each, which of them the store already holds complete (a resume
// skips those, so it never duplicates), in what order the rest come (round-robin across categories, so a download
// stopped early leaves every class some drawings), and the progress that starts from. Pure; tested in Node.
import { DataError } from '../errors.ts';
import { shardKey } from '../data/database.ts';
import { shardsFor, type DatasetManifest } from '../data/manifest.ts';
import type { StoredShard } from '../data/store.ts';
import type { CategoryProgress } from './ingest-protocol.ts';
import type { PlannedShard } from './shard-fetch.ts';

export interface DownloadPlan {
  /** Shards to download and store, in the order they are written. */
  todo: PlannedShard[];
  /** Per category, in the order asked for: the drawings it will have and those already stored. */
  progress: CategoryProgress[];
  /** Bytes of every shard the download covers, and of those already stored. */
  totalBytes: number;
  storedBytes: number;
}

export interface PlanRequest {
  manifest: DatasetManifest;
  manifestUrl: string;
  datasetId: string;
  categories: readonly string[];
  maxPerCategory: number;
  /** What the store holds for this dataset now (DrawingStore.storedShardKeys). */
  stored: ReadonlyMap<string, StoredShard>;
}

/** The plan; a category the manifest does not serve, or a count that is not a positive whole number, throws a DataError. */
export function planDownload(request: PlanRequest): DownloadPlan {
  const { manifest, manifestUrl, datasetId, maxPerCategory, stored } = request;
  if (!Number.isInteger(maxPerCategory) || maxPerCategory <= 0) {
    throw new DataError('bad-manifest', `Choose a whole number of drawings per category above 0 (got ${maxPerCategory}).`);
  }
  const served = new Set(manifest.categories.map((c) => c.name));
  const names = [...new Set(request.categories)];
  const missing = names.filter((name) => !served.has(name));
  if (missing.length > 0) {
    throw new DataError('unknown-category', `The served dataset has no ${missing.map((m) => `"${m}"`).join(', ')}; pick from the ${served.size} categories it lists.`, manifestUrl);
  }
  const byCategory = names.map((name) => shardsFor(manifest, name, maxPerCategory).map((entry): PlannedShard => ({
    entry, url: new URL(entry.file, manifestUrl).href, keep: Math.min(entry.drawingCount, maxPerCategory - entry.firstIndex),
  })));
  const progress: CategoryProgress[] = names.map((name, i) => ({
    name, targetDrawings: (byCategory[i] ?? []).reduce((sum, s) => sum + s.keep, 0), storedDrawings: 0,
  }));
  const todo: PlannedShard[] = [];
  let totalBytes = 0, storedBytes = 0;
  for (let position = 0; byCategory.some((list) => position < list.length); position++) {
    byCategory.forEach((list, i) => {
      const shard = list[position];
      if (shard === undefined) return;
      totalBytes += shard.entry.sizeBytes;
      const have = stored.get(shardKey(datasetId, shard.entry.category, shard.entry.index));
      if (have !== undefined && have.sha256 === shard.entry.sha256 && have.drawingCount >= shard.keep) {
        storedBytes += shard.entry.sizeBytes;
        progress[i]!.storedDrawings += shard.keep;
      } else {
        todo.push(shard);
      }
    });
  }
  return { todo, progress, totalBytes, storedBytes };
}
