// `npm run bench:ingest` (Node): serves the built site's Quick, Draw! shards (or a synthetic dataset of the
// same size when the build has none) and a bench page built by Vite from tests/bench/, drives headless
// Chromium through it, and reports drawings/s into IndexedDB, the ratio to raw IndexedDB writes and the
// longest main-thread task. The last line of output is one JSON object.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright';
import { build } from 'vite';
import { DEFAULT_CATEGORIES } from '../../src/core/data/categories.ts';
import { decodeNpy } from '../../src/core/data/npy.ts';
import { sha256Hex } from '../../src/core/data/sha256.ts';
import { encodeShard } from '../../src/core/data/shard.ts';
import { serve } from '../../datasets/serve.ts';
import { chromiumLaunchOptions } from '../chromium.ts';
import type { BenchRequest, BenchResult } from './ingest-page.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BUILT_DATA = path.join(ROOT, 'dist', 'assets', 'data', 'quickdraw');
const SHARED_BITMAPS = path.resolve(ROOT, '..', 'shared', 'quickdraw', 'numpy_bitmap');
const PER_CATEGORY = 3000;
const DRAWINGS_PER_SHARD = 3000; // as npm run assets serves the default categories
const ROUNDS = 5;
const TARGETS = { drawingsPerSec: 50_000, rawWriteRatio: 0.7, longestMainThreadTaskMs: 50 };

/** Ten default categories × 3000 drawings, one shard each as npm run assets serves them, from ../shared's real bitmaps when present. */
async function syntheticDataset(dir: string): Promise<string> {
  await mkdir(path.join(dir, 'shards'), { recursive: true });
  const shards = [];
  for (const [c, category] of DEFAULT_CATEGORIES.entries()) {
    const npyPath = path.join(SHARED_BITMAPS, `${category}.npy`);
    const real = existsSync(npyPath) ? decodeNpy(new Uint8Array(await readFile(npyPath)), npyPath, PER_CATEGORY).bitmaps : null;
    for (let index = 0; index * DRAWINGS_PER_SHARD < PER_CATEGORY; index++) {
      const firstIndex = index * DRAWINGS_PER_SHARD;
      const bitmaps = new Uint8Array(DRAWINGS_PER_SHARD * 784);
      for (let i = 0; i < bitmaps.length; i++) {
        const source = real?.[firstIndex * 784 + i];
        bitmaps[i] = source ?? ((i * 2654435761 + c) >>> 27 === 0 ? 255 : 0);
      }
      const bytes = encodeShard({ imageSizePx: 28, firstIndex, bitmaps, strokes: null });
      const file = `shards/${String(c).padStart(3, '0')}-${String(index).padStart(4, '0')}.qds`;
      await writeFile(path.join(dir, file), bytes);
      shards.push({ file, category, index, firstIndex, drawingCount: DRAWINGS_PER_SHARD, sizeBytes: bytes.length, sha256: await sha256Hex(bytes), hasStrokes: false });
    }
  }
  const manifest = {
    formatVersion: 1, name: 'bench-synthetic', imageSizePx: 28, drawingsPerShard: DRAWINGS_PER_SHARD,
    categories: DEFAULT_CATEGORIES.map((name) => ({ name, drawingCount: PER_CATEGORY })), shards,
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return existsSync(SHARED_BITMAPS) ? 'synthetic dataset from ../shared numpy_bitmap rows' : 'synthetic dataset with generated bitmaps';
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const temp = await mkdtemp(path.join(tmpdir(), 'doodle-lab-bench-'));
  let dataDir = BUILT_DATA, dataNote = 'the built site\'s dataset (dist/assets/data/quickdraw)';
  if (!existsSync(path.join(BUILT_DATA, 'manifest.json'))) {
    dataDir = path.join(temp, 'data');
    dataNote = `${await syntheticDataset(dataDir)} — dist/assets/data/quickdraw/manifest.json is missing (run npm run assets, then vite build)`;
  }
  const pageDir = path.join(temp, 'page');
  await build({
    root: ROOT, configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn',
    build: { outDir: pageDir, emptyOutDir: true, sourcemap: false, rollupOptions: { input: path.join(ROOT, 'tests', 'bench', 'ingest.html') } },
  });
  const pageHtml = readdirSync(path.join(pageDir, 'tests', 'bench')).find((f) => f.endsWith('.html'));
  const { server, origin } = await serve({ '/data/': dataDir, '/': pageDir });
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(`${origin}/tests/bench/${pageHtml ?? 'ingest.html'}`);
    await page.waitForFunction(() => 'runIngestBench' in window);
    const request: BenchRequest = { manifestUrl: `${origin}/data/manifest.json`, categories: [...DEFAULT_CATEGORIES], maxPerCategory: PER_CATEGORY, rounds: ROUNDS };
    const result = await page.evaluate(
      // Set by ingest-page.ts on load; waitForFunction above saw it.
      (r) => (window as unknown as { runIngestBench: (r: BenchRequest) => Promise<BenchResult> }).runIngestBench(r),
      request,
    );
    report(result, dataNote);
  } finally {
    await browser.close();
    server.close();
    await rm(temp, { recursive: true, force: true });
  }
}

function report(result: BenchResult, dataNote: string): void {
  const rate = (ms: number): number => result.drawings / (ms / 1000);
  const ingestMs = median(result.ingestMs), rawMs = median(result.rawMs);
  const drawingsPerSec = Math.round(rate(ingestMs));
  const rawDrawingsPerSec = Math.round(rate(rawMs));
  const rawWriteRatio = Number((drawingsPerSec / rawDrawingsPerSec).toFixed(3));
  const longestMainThreadTaskMs = Math.round(result.longestMainThreadTaskMs);
  const mark = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const fmt = (values: number[]): string => values.map((ms) => `${Math.round(rate(ms)).toLocaleString('en-US')}`).join(', ');
  console.log(`Ingest benchmark — ${result.drawings.toLocaleString('en-US')} drawings (${DEFAULT_CATEGORIES.length} categories × ${PER_CATEGORY}), ${ROUNDS} rounds, median shown`);
  console.log(`  data: ${dataNote}`);
  console.log(`  stored per round: ${(result.storedBytes / 1e6).toFixed(1)} MB of bitmaps (${(result.drawings * 784 / 1e6).toFixed(1)} MB decoded), by both the ingest and the raw baseline`);
  console.log(`  data worker download → IndexedDB: ${drawingsPerSec.toLocaleString('en-US')} drawings/s (${Math.round(ingestMs)} ms; rounds: ${fmt(result.ingestMs)})  target ≥ ${TARGETS.drawingsPerSec.toLocaleString('en-US')}: ${mark(drawingsPerSec >= TARGETS.drawingsPerSec)}`);
  console.log(`  raw IndexedDB writes of the same bytes: ${rawDrawingsPerSec.toLocaleString('en-US')} drawings/s (${Math.round(rawMs)} ms; rounds: ${fmt(result.rawMs)})`);
  console.log(`  ratio ingest / raw: ${rawWriteRatio}  target ≥ ${TARGETS.rawWriteRatio}: ${mark(rawWriteRatio >= TARGETS.rawWriteRatio)}`);
  console.log(`  core ingest in a worker, fetchAhead 1: ${fmt(result.coreFetchAhead1Ms)} drawings/s; fetchAhead 2: ${fmt(result.coreFetchAhead2Ms)} drawings/s`);
  console.log(`  fetch + SHA-256 + checks, nothing stored (the network floor): ${fmt(result.fetchVerifyOnlyMs)} drawings/s`);
  const fetchOnlyRate = rate(median(result.fetchOnlyMs));
  console.log(`  fetch only, nothing checked or stored: ${fmt(result.fetchOnlyMs)} drawings/s — caps the ratio at ${(fetchOnlyRate / rawDrawingsPerSec).toFixed(2)} on this machine`);
  const bothRate = rate(median(result.fetchAndRawWriteMs));
  console.log(`  fetch only and raw writes at the same time (two workers), until both are done: ${fmt(result.fetchAndRawWriteMs)} drawings/s — caps the ratio at ${(bothRate / rawDrawingsPerSec).toFixed(2)} on this machine`);
  console.log(`  longest main-thread long task during downloads: ${longestMainThreadTaskMs === 0 ? 'none (no task ≥ 50 ms)' : `${longestMainThreadTaskMs} ms`}; longest timer gap: ${Math.round(result.longestTimerGapMs)} ms  target ≤ ${TARGETS.longestMainThreadTaskMs} ms: ${mark(longestMainThreadTaskMs <= TARGETS.longestMainThreadTaskMs)}`);
  if (result.storageEvent?.kind === 'storage') console.log(`  storage: persisted=${result.storageEvent.persisted}, usage ${result.storageEvent.usageBytes ?? '?'} of ${result.storageEvent.quotaBytes ?? '?'} bytes`);
  console.log(JSON.stringify({
    drawingsPerSec, rawDrawingsPerSec, rawWriteRatio, longestMainThreadTaskMs, longestTimerGapMs: Math.round(result.longestTimerGapMs),
    drawings: result.drawings, storedBytes: result.storedBytes, rounds: ROUNDS, fetchAhead1DrawingsPerSec: Math.round(rate(median(result.coreFetchAhead1Ms))),
    fetchAhead2DrawingsPerSec: Math.round(rate(median(result.coreFetchAhead2Ms))), fetchVerifyOnlyDrawingsPerSec: Math.round(rate(median(result.fetchVerifyOnlyMs))), fetchOnlyDrawingsPerSec: Math.round(fetchOnlyRate), ratioCapFromFetch: Number((fetchOnlyRate / rawDrawingsPerSec).toFixed(3)),
    fetchAndRawWriteDrawingsPerSec: Math.round(bothRate), ratioCapFromFetchAndWrite: Number((bothRate / rawDrawingsPerSec).toFixed(3)), data: dataNote.startsWith('synthetic') ? 'synthetic' : 'dist',
  }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  process.exitCode = 1;
});
