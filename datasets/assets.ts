// `npm run assets` (before dev, build and test): puts the MobileNet weights and the served Quick, Draw!
// dataset under public/assets/ (git-ignored, served same-origin). Online: Google's canonical URLs, cached
// in .cache/. Offline (or DOODLE_OFFLINE=1): ../shared. Skips all work when public/assets/.stamp.json
// matches the inputs. One line per step. Node only.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { DEFAULT_CATEGORIES, QUICKDRAW_CATEGORIES } from '../src/core/data/categories.ts';
import { DataError } from '../src/core/errors.ts';
import { SERVED_BACKBONES } from '../src/core/training/backbones.ts';
import { cacheModel, cacheNpy, copyModel, probeOnline } from './assets-sources.ts';
import { buildDataset } from './builder.ts';
import { BuildError, openSource } from './sources.ts';
import { teachableBackboneArtifacts, TM_FOLDER } from './teachable-machine.ts';

const MODEL_NAME = 'mobilenet_v1_0.25_224';
/** Google's model.json for MODEL_NAME (backbones.ts: the backbone the app ships with). */
const MODEL_URL = SERVED_BACKBONES.find((b) => b.dir === MODEL_NAME)!.canonicalUrl;
/**
 * The stock ImageNet classifier for image upload: the same network as a TF-Hub GraphModel (1001 outputs).
 * The URL is the one @tensorflow-models/mobilenet loads for version 1, alpha 0.25 (`fromTFHub` adds
 * `model.json?tfjs-format=file`); the app loads our copy through the package's `modelUrl` option.
 */
const IMAGENET_MODEL_NAME = 'imagenet_mobilenet_v1_0.25_224';
const IMAGENET_MODEL_URL = 'https://tfhub.dev/google/imagenet/mobilenet_v1_025_224/classification/1/model.json?tfjs-format=file';
const QUICKDRAW_BASE_URL = 'https://storage.googleapis.com/quickdraw_dataset/full';
const DATASET_NAME = 'quickdraw';
/** Drawings served for each of the ten default categories (from numpy_bitmap). */
const DEFAULT_CATEGORY_DRAWINGS = 3000;
/** At most this many for every other category (../shared has 25 strokes for most of them). */
const OTHER_CATEGORY_DRAWINGS = 500;
const DRAWINGS_PER_SHARD = 3000;
const ONLINE_PROBE_TIMEOUT_MS = 5000;
const DOWNLOAD_CONCURRENCY = 8;
/** Bump when the layout under public/assets changes in a way the code hash would not show. */
const STAMP_VERSION = 2;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');
const ASSETS_DIR = path.join(REPO_ROOT, 'public', 'assets');
const MODEL_OUT = path.join(ASSETS_DIR, 'models', MODEL_NAME);
// A sibling of MODEL_OUT, not inside it: copyModel replaces its whole target folder.
const IMAGENET_MODEL_OUT = path.join(ASSETS_DIR, 'models', IMAGENET_MODEL_NAME);
/** Where ../shared keeps the GraphModel: beside the LayersModel of the same network. */
const SHARED_IMAGENET_DIR = path.join(SHARED_DIR, 'models', MODEL_NAME, 'imagenet');
const DATASET_OUT = path.join(ASSETS_DIR, 'data', DATASET_NAME);
const STAMP_FILE = path.join(ASSETS_DIR, '.stamp.json');
const CACHE_DIR = path.join(REPO_ROOT, '.cache');
/** The wider backbones the app serves beside MODEL_NAME (backbones.ts), which the form loads on first use. */
const WIDER_BACKBONES = SERVED_BACKBONES.filter((b) => b.dir !== MODEL_NAME);
/**
 * Where ../shared keeps each wider backbone offline: a copy of Google's files, or MobileNetV2 α=0.35 inside the
 * Teachable Machine export (its frozen backbone, the same weights). One missing there is not served offline.
 */
const SHARED_BACKBONES: Record<string, { folder: string; teachable?: true }> = {
  'mobilenet_v1_0.75_224': { folder: path.join(SHARED_DIR, 'models', 'mobilenet_v1_0.75_224') },
  'mobilenet_v2_0.35_224': { folder: path.join(SHARED_DIR, TM_FOLDER), teachable: true },
};
/** The code whose output lands in public/assets: a change to any of it rebuilds. */
const GENERATOR_FILES = [
  ...readdirSync(path.join(REPO_ROOT, 'datasets')).filter((f) => f.endsWith('.ts')).map((f) => path.join('datasets', f)),
  path.join('src', 'core', 'errors.ts'),
  path.join('src', 'core', 'training', 'backbones.ts'),
  ...['bytes', 'categories', 'manifest', 'ndjson', 'npy', 'render', 'sha256', 'shard', 'zero-runs'].map((f) => path.join('src', 'core', 'data', `${f}.ts`)),
].sort();

const log = (line: string): void => console.log(`assets: ${line}`);
const shown = (file: string): string => path.relative(REPO_ROOT, file) || '.';

function hashOf(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part}\0`);
  return hash.digest('hex');
}

/** Names, sizes and modification times of every file under `dir`: cheap to compute, changes when any input does. */
function treeSignature(dir: string): string {
  const entries: string[] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const info = statSync(full);
        entries.push(`${path.relative(dir, full)}:${info.size}:${info.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return hashOf(entries);
}

type Mode = { kind: 'online' } | { kind: 'offline'; reason: string };

/** What public/assets would be built from; equal descriptions mean equal outputs. */
function describeInputs(mode: Mode): string {
  const common = {
    stampVersion: STAMP_VERSION,
    code: hashOf(GENERATOR_FILES.map((file) => readFileSync(path.join(REPO_ROOT, file), 'utf8'))),
    model: MODEL_NAME,
    imagenetModel: IMAGENET_MODEL_NAME,
    dataset: { name: DATASET_NAME, defaults: DEFAULT_CATEGORIES, defaultDrawings: DEFAULT_CATEGORY_DRAWINGS,
      otherDrawings: OTHER_CATEGORY_DRAWINGS, drawingsPerShard: DRAWINGS_PER_SHARD },
  };
  const inputs = mode.kind === 'online'
    ? { source: 'online', modelUrl: MODEL_URL, imagenetModelUrl: IMAGENET_MODEL_URL, dataUrl: QUICKDRAW_BASE_URL, wider: WIDER_BACKBONES }
    : {
      source: SHARED_DIR, files: treeSignature(path.join(SHARED_DIR, 'quickdraw')), modelFiles: treeSignature(path.join(SHARED_DIR, 'models', MODEL_NAME)),
      wider: WIDER_BACKBONES.map(({ dir }) => [dir, sharedBackbone(dir) && treeSignature(sharedBackbone(dir)!.folder)]),
    };
  return `${JSON.stringify({ ...common, inputs }, null, 2)}\n`;
}

/** ../shared's source of a wider backbone, or null where it has none. */
function sharedBackbone(dir: string): { folder: string; teachable?: true } | null {
  const source = SHARED_BACKBONES[dir];
  return source !== undefined && existsSync(path.join(source.folder, 'model.json')) ? source : null;
}

async function upToDate(description: string): Promise<boolean> {
  const stamp = await readFile(STAMP_FILE, 'utf8').catch(() => null);
  if (stamp !== description) return false;
  const outputs = [path.join(MODEL_OUT, 'model.json'), path.join(IMAGENET_MODEL_OUT, 'model.json'), path.join(DATASET_OUT, 'manifest.json')];
  const present = await Promise.all(outputs.map(async (file) => (await stat(file).catch(() => null))?.isFile() === true));
  return present.every(Boolean);
}

async function chooseMode(): Promise<Mode> {
  if (process.env['DOODLE_OFFLINE'] === '1') return { kind: 'offline', reason: 'DOODLE_OFFLINE=1' };
  const probe = await probeOnline(MODEL_URL, ONLINE_PROBE_TIMEOUT_MS);
  return probe.online ? { kind: 'online' } : { kind: 'offline', reason: `storage.googleapis.com unreachable: ${probe.reason}` };
}

const perCategoryLimits = (categories: readonly string[]): Record<string, number> =>
  Object.fromEntries(categories.map((c) => [c, DEFAULT_CATEGORIES.includes(c) ? DEFAULT_CATEGORY_DRAWINGS : OTHER_CATEGORY_DRAWINGS]));

/** The defaults first, then every other category in Google's order. */
const ALL_CATEGORIES = [...DEFAULT_CATEGORIES, ...QUICKDRAW_CATEGORIES.filter((c) => !DEFAULT_CATEGORIES.includes(c))];

async function buildServedDataset(source: string, categories: readonly string[], format: 'npy' | 'auto'): Promise<void> {
  const started = performance.now();
  const manifest = await buildDataset({
    source, categories, format, out: DATASET_OUT, name: DATASET_NAME,
    perCategoryByName: perCategoryLimits(categories), drawingsPerShard: DRAWINGS_PER_SHARD,
  });
  const drawings = manifest.categories.reduce((sum, c) => sum + c.drawingCount, 0);
  const sizeBytes = manifest.shards.reduce((sum, s) => sum + s.sizeBytes, 0);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  log(`dataset ${shown(DATASET_OUT)}: ${manifest.categories.length} categories, ${drawings.toLocaleString('en-US')} drawings, ` +
    `${manifest.shards.length} shards, ${(sizeBytes / 1e6).toFixed(1)} MB (${seconds} s)`);
}

async function buildOnline(): Promise<void> {
  const modelCache = path.join(CACHE_DIR, 'models', MODEL_NAME);
  const fetched = await cacheModel(MODEL_URL, modelCache);
  const modelBytes = await copyModel(modelCache, MODEL_OUT);
  log(`model ${shown(MODEL_OUT)}: ${(modelBytes / 1e6).toFixed(1)} MB (${fetched} files downloaded, the rest from ${shown(modelCache)})`);
  const imagenetCache = path.join(CACHE_DIR, 'models', IMAGENET_MODEL_NAME);
  const imagenetFetched = await cacheModel(IMAGENET_MODEL_URL, imagenetCache);
  const imagenetBytes = await copyModel(imagenetCache, IMAGENET_MODEL_OUT);
  log(`model ${shown(IMAGENET_MODEL_OUT)}: ${(imagenetBytes / 1e6).toFixed(1)} MB (${imagenetFetched} files downloaded, the rest from ${shown(imagenetCache)})`);
  for (const { dir, canonicalUrl } of WIDER_BACKBONES) {
    const cache = path.join(CACHE_DIR, 'models', dir), out = path.join(ASSETS_DIR, 'models', dir);
    const widerFetched = await cacheModel(canonicalUrl, cache);
    log(`model ${shown(out)}: ${((await copyModel(cache, out)) / 1e6).toFixed(1)} MB (${widerFetched} files downloaded, the rest from ${shown(cache)})`);
  }
  const dataCache = path.join(CACHE_DIR, 'quickdraw');
  const started = performance.now();
  const limits = perCategoryLimits(ALL_CATEGORIES);
  const { available, downloaded } = await cacheNpy(QUICKDRAW_BASE_URL, dataCache, ALL_CATEGORIES,
    (c) => limits[c] ?? OTHER_CATEGORY_DRAWINGS, new Set(DEFAULT_CATEGORIES), DOWNLOAD_CONCURRENCY);
  log(`Quick, Draw! bitmaps in ${shown(dataCache)}: ${available.length} categories, ${downloaded} downloaded ` +
    `(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  await buildServedDataset(dataCache, available, 'npy');
}

async function buildOffline(): Promise<void> {
  const modelDir = path.join(SHARED_DIR, 'models', MODEL_NAME);
  const modelBytes = await copyModel(modelDir, MODEL_OUT);
  log(`model ${shown(MODEL_OUT)}: ${(modelBytes / 1e6).toFixed(1)} MB copied from ${modelDir}`);
  const imagenetBytes = await copyModel(SHARED_IMAGENET_DIR, IMAGENET_MODEL_OUT);
  log(`model ${shown(IMAGENET_MODEL_OUT)}: ${(imagenetBytes / 1e6).toFixed(1)} MB copied from ${SHARED_IMAGENET_DIR}`);
  for (const { dir } of WIDER_BACKBONES) {
    const out = path.join(ASSETS_DIR, 'models', dir), source = sharedBackbone(dir);
    if (source === null) {
      await rm(out, { recursive: true, force: true });
      log(`model ${shown(out)}: not served (${SHARED_BACKBONES[dir]?.folder ?? SHARED_DIR} has none); the form's choice of it needs the internet`);
    } else if (source.teachable) {
      log(`model ${shown(out)}: ${((await writeTeachableBackbone(source.folder, out)) / 1e6).toFixed(1)} MB, the backbone of the Teachable Machine export in ${source.folder}`);
    } else {
      log(`model ${shown(out)}: ${((await copyModel(source.folder, out)) / 1e6).toFixed(1)} MB copied from ${source.folder}`);
    }
  }
  const quickdraw = path.join(SHARED_DIR, 'quickdraw');
  const source = openSource(quickdraw);
  const found = await Promise.all(ALL_CATEGORIES.map(async (c) => (await source.locate(c, 'auto')).file));
  const available = ALL_CATEGORIES.filter((_, i) => found[i] !== null);
  const missingDefaults = DEFAULT_CATEGORIES.filter((c) => !available.includes(c));
  if (missingDefaults.length > 0) {
    throw new BuildError('missing-file', `${quickdraw} has no file for the default categories ${missingDefaults.join(', ')} ` +
      '(expected numpy_bitmap/<category>.npy).', quickdraw);
  }
  await buildServedDataset(quickdraw, available, 'auto');
}

/** Writes the Teachable Machine export's MobileNetV2 backbone in `folder` as a LayersModel in `out`; returns its bytes. */
async function writeTeachableBackbone(folder: string, out: string): Promise<number> {
  const files = { model: JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON, weights: new Uint8Array(await readFile(path.join(folder, 'weights.bin'))).buffer };
  const backbone = teachableBackboneArtifacts(files);
  const weights = new Uint8Array(backbone.weightData as ArrayBuffer);
  const modelJson = {
    format: 'layers-model', generatedBy: files.model.generatedBy, convertedBy: 'Doodle Lab (npm run assets): the backbone of a Teachable Machine export',
    modelTopology: backbone.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: backbone.weightSpecs }],
  };
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const json = new TextEncoder().encode(JSON.stringify(modelJson));
  await writeFile(path.join(out, 'model.json'), json);
  await writeFile(path.join(out, 'weights.bin'), weights);
  return json.length + weights.length;
}

const NOTHING_TO_BUILD_FROM = (reason: string): string => [
  `Cannot get the MobileNet weights and the Quick, Draw! data: ${reason}, and ${SHARED_DIR} lacks quickdraw/, models/${MODEL_NAME}/ or models/${MODEL_NAME}/imagenet/.`,
  'Do one of these, then run `npm run assets` again:',
  `  - connect this machine to the internet (storage.googleapis.com must be reachable${process.env['DOODLE_OFFLINE'] === '1' ? ') and unset DOODLE_OFFLINE' : ')'}, or`,
  `  - put Google's files in ${path.join(SHARED_DIR, 'quickdraw')} (numpy_bitmap/<category>.npy and/or simplified/<category>.ndjson)`,
  `    and the weights in ${path.join(SHARED_DIR, 'models', MODEL_NAME)} (model.json + group*-shard1of1), with the ImageNet`,
  `    GraphModel (TF Hub's mobilenet_v1_025_224/classification, model.json + group*-shard1of1) in ${SHARED_IMAGENET_DIR}, as README.md describes.`,
].join('\n');

async function main(): Promise<number> {
  const online = describeInputs({ kind: 'online' });
  // An online build is never downgraded by a later offline run, so it skips without even probing.
  if (await upToDate(online)) {
    log(`up to date (${shown(STAMP_FILE)} matches: built from Google's URLs)`);
    return 0;
  }
  const mode = await chooseMode();
  const sharedFolders = [path.join(SHARED_DIR, 'quickdraw'), path.join(SHARED_DIR, 'models', MODEL_NAME), SHARED_IMAGENET_DIR];
  const hasShared = (await Promise.all(sharedFolders.map((dir) => stat(dir).catch(() => null)))).every((info) => info?.isDirectory() === true);
  if (mode.kind === 'offline' && !hasShared) {
    console.error(`assets: ${NOTHING_TO_BUILD_FROM(mode.reason)}`);
    return 1;
  }
  const description = mode.kind === 'online' ? online : describeInputs(mode);
  if (await upToDate(description)) {
    log(`up to date (${shown(STAMP_FILE)} matches: built from ${SHARED_DIR})`);
    return 0;
  }
  log(mode.kind === 'online' ? 'online: downloading from storage.googleapis.com (cached in .cache/)' : `offline (${mode.reason}): using ${SHARED_DIR}`);
  await rm(STAMP_FILE, { force: true });
  if (mode.kind === 'online') await buildOnline();
  else await buildOffline();
  await mkdir(ASSETS_DIR, { recursive: true });
  await writeFile(STAMP_FILE, description);
  log(`done; wrote ${shown(STAMP_FILE)}`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof DataError || error instanceof BuildError)) throw error;
  console.error(`assets: ${error.message}`);
  process.exitCode = 1;
}
