// src/core/ingest/plan.ts: what a download will fetch, in what order, and what it starts from, decided in Node
// before any shard moves; and the saved options a reload resumes a download from (ingest-protocol.ts).
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/core/errors.ts';
import { shardKey } from '../../../src/core/data/database.ts';
import type { DatasetManifest, ShardEntry } from '../../../src/core/data/manifest.ts';
import type { StoredShard } from '../../../src/core/data/store.ts';
import { parseSavedDownload } from '../../../src/core/ingest/ingest-protocol.ts';
import { planDownload, type PlanRequest } from '../../../src/core/ingest/plan.ts';

const URL_BASE = 'https://example.test/data/manifest.json';

/** Categories with 1,000-drawing shards (the last one shorter), 10 bytes a drawing, one hash per shard. */
function manifest(counts: Record<string, number>): DatasetManifest {
  const shards: ShardEntry[] = [];
  Object.entries(counts).forEach(([category, count], c) => {
    for (let index = 0; index * 1000 < count; index++) {
      const drawingCount = Math.min(1000, count - index * 1000);
      shards.push({ file: `shards/${c}-${index}.qds`, category, index, firstIndex: index * 1000, drawingCount, sizeBytes: drawingCount * 10, sha256: `${category}-${index}`, hasStrokes: false });
    }
  });
  return { formatVersion: 2, name: 'quickdraw', imageSizePx: 28, drawingsPerShard: 1000, categories: Object.entries(counts).map(([name, drawingCount]) => ({ name, drawingCount })), shards };
}

const request = (over: Partial<PlanRequest>): PlanRequest => ({
  manifest: manifest({ cat: 3000, dog: 1500 }), manifestUrl: URL_BASE, datasetId: 'quickdraw', categories: ['cat', 'dog'], maxPerCategory: 3000, stored: new Map(), ...over,
});

const order = (plan: ReturnType<typeof planDownload>) => plan.todo.map((s) => `${s.entry.category}/${s.entry.index}:${s.keep}`);

describe('planDownload', () => {
  it('takes the categories round-robin, keeps only the drawings asked for, and resolves shard URLs against the manifest', () => {
    const plan = planDownload(request({ maxPerCategory: 2500 }));
    expect(order(plan)).toEqual(['cat/0:1000', 'dog/0:1000', 'cat/1:1000', 'dog/1:500', 'cat/2:500']);
    expect(plan.todo[0]!.url).toBe('https://example.test/data/shards/0-0.qds');
    expect(plan.progress).toEqual([{ name: 'cat', targetDrawings: 2500, storedDrawings: 0 }, { name: 'dog', targetDrawings: 1500, storedDrawings: 0 }]);
    expect(plan.totalBytes).toBe(30_000 + 15_000);
    expect(plan.storedBytes).toBe(0);
  });

  it('skips shards stored complete with the same bytes, and fetches again one that is stale or too short', () => {
    const stored = new Map<string, StoredShard>([
      [shardKey('quickdraw', 'cat', 0), { sha256: 'cat-0', drawingCount: 1000 }],
      [shardKey('quickdraw', 'cat', 1), { sha256: 'an older build', drawingCount: 1000 }],
      [shardKey('quickdraw', 'dog', 0), { sha256: 'dog-0', drawingCount: 400 }],
      [shardKey('elsewhere', 'dog', 1), { sha256: 'dog-1', drawingCount: 500 }],
    ]);
    const plan = planDownload(request({ stored }));
    expect(order(plan)).toEqual(['dog/0:1000', 'cat/1:1000', 'dog/1:500', 'cat/2:1000']);
    expect(plan.progress.map((c) => c.storedDrawings)).toEqual([1000, 0]);
    expect(plan.storedBytes).toBe(10_000);
  });

  it('asks once for a category named twice, and plans nothing when everything is stored', () => {
    const all = planDownload(request({ categories: ['dog', 'dog'] }));
    expect(all.progress.map((c) => c.name)).toEqual(['dog']);
    const stored = new Map(all.todo.map((s): [string, StoredShard] => [shardKey('quickdraw', s.entry.category, s.entry.index), { sha256: s.entry.sha256, drawingCount: s.keep }]));
    const again = planDownload(request({ categories: ['dog'], stored }));
    expect(again.todo).toEqual([]);
    expect(again.storedBytes).toBe(again.totalBytes);
    expect(again.progress).toEqual([{ name: 'dog', targetDrawings: 1500, storedDrawings: 1500 }]);
  });

  it('refuses a category the manifest does not serve, and a count that is no positive whole number', () => {
    const unknown = () => planDownload(request({ categories: ['cat', 'unicorn'] }));
    expect(unknown).toThrow(DataError);
    expect(unknown).toThrow('The served dataset has no "unicorn"; pick from the 2 categories it lists.');
    for (const maxPerCategory of [0, -5, 2.5]) expect(() => planDownload(request({ maxPerCategory }))).toThrow(/whole number of drawings per category/);
  });
});

describe('parseSavedDownload', () => {
  const options = { manifestUrl: URL_BASE, categories: ['cat', 'dog'] };

  it('reads what the page saves, and what versions before the rename saved (perCategory)', () => {
    expect(parseSavedDownload(JSON.stringify({ ...options, maxPerCategory: 500 }), 3000)).toEqual({ ...options, maxPerCategory: 500 });
    expect(parseSavedDownload(JSON.stringify({ ...options, perCategory: 200 }), 3000)).toEqual({ ...options, maxPerCategory: 200 });
    expect(parseSavedDownload(JSON.stringify(options), 3000)).toEqual({ ...options, maxPerCategory: 3000 });
  });

  it('refuses text that is not a saved download', () => {
    expect(() => parseSavedDownload('{', 3000)).toThrow();
    expect(() => parseSavedDownload(JSON.stringify({ categories: ['cat'] }), 3000)).toThrow(/Not a saved download/);
  });
});
