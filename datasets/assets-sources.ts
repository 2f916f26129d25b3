// Gets the assets script's inputs into local folders: MobileNet's model.json + weight files (the trainable
// LayersModel and the ImageNet GraphModel alike), and Google's .npy bitmaps fetched with Range requests into
// .cache/quickdraw (as valid .npy files holding just the rows asked for, so reruns download nothing). Also
// the online probe. Node only.
import { copyFile, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../src/core/errors.ts';
import { parseNpyHeader } from '../src/core/data/npy.ts';
import { requestOrThrow } from './http.ts';
import { BuildError, openSource } from './sources.ts';

/** Reachable within `timeoutMs`, or the reason it is not. */
export async function probeOnline(url: string, timeoutMs: number): Promise<{ online: true } | { online: false; reason: string }> {
  try {
    const response = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? { online: true } : { online: false, reason: `HTTP ${response.status}` };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer in ${timeoutMs / 1000} s` : cause || String(error);
    return { online: false, reason };
  }
}

/** Writes through a temporary name, so an interrupted run never leaves a half file that looks complete. */
async function writeAtomically(file: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.partial-${process.pid}`;
  await writeFile(temporary, bytes);
  await rename(temporary, file);
}

const exists = async (file: string): Promise<boolean> => (await stat(file).catch(() => null))?.isFile() === true;

/** `value[key]` for any JSON value, undefined where there is no such field. */
function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? Reflect.get(value, key) : undefined;
}

/** The weight files model.json names, checked to stay inside the model's folder. */
export function weightFilesOf(modelJson: string, file: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(modelJson);
  } catch {
    throw new DataError('bad-header', `${file} is not valid JSON (a cut-off download?). Delete it and run npm run assets again.`, file);
  }
  const manifest = field(value, 'weightsManifest');
  if (!Array.isArray(manifest)) throw new DataError('bad-header', `${file} has no "weightsManifest"; it is not a tfjs LayersModel or GraphModel.`, file);
  const paths: unknown[] = manifest.flatMap((group: unknown) => {
    const groupPaths = field(group, 'paths');
    return Array.isArray(groupPaths) ? groupPaths : [null];
  });
  const valid = paths.filter((weightPath): weightPath is string =>
    typeof weightPath === 'string' && weightPath.length > 0 && !weightPath.includes('..') && !path.isAbsolute(weightPath));
  if (valid.length !== paths.length) {
    const bad = paths.find((weightPath) => typeof weightPath !== 'string' || !valid.includes(weightPath));
    throw new DataError('bad-header', `${file} names a weight file "${String(bad)}" that is not a plain relative path.`, file);
  }
  return valid;
}

/**
 * Downloads model.json and its weight files (a LayersModel or a GraphModel: both list them in
 * weightsManifest) into `cacheDir` unless already there. Returns the files fetched.
 */
export async function cacheModel(modelUrl: string, cacheDir: string): Promise<number> {
  let fetched = 0;
  const fetchTo = async (url: string, file: string): Promise<void> => {
    if (await exists(file)) return;
    const response = await requestOrThrow(url, {}, []);
    await writeAtomically(file, new Uint8Array(await response.arrayBuffer()));
    fetched += 1;
  };
  const modelFile = path.join(cacheDir, 'model.json');
  await fetchTo(modelUrl, modelFile);
  const weights = weightFilesOf(await readFile(modelFile, 'utf8'), modelFile);
  for (const weight of weights) {
    // As tfjs's http loader does: weights sit beside model.json and carry its query, which TF Hub needs
    // (`?tfjs-format=file` makes it serve the files instead of a web page).
    const weightUrl = new URL(weight, modelUrl);
    weightUrl.search = new URL(modelUrl).search;
    await fetchTo(weightUrl.href, path.join(cacheDir, weight));
  }
  return fetched;
}

/** Replaces `to` with model.json and the weight files it names from `from`; returns bytes copied. */
export async function copyModel(from: string, to: string): Promise<number> {
  const modelFile = path.join(from, 'model.json');
  if (!(await exists(modelFile))) {
    throw new BuildError('missing-file', `${modelFile} is missing: put Google's ${path.basename(from)} model (model.json + weight files) there.`, modelFile);
  }
  const weights = weightFilesOf(await readFile(modelFile, 'utf8'), modelFile);
  await rm(to, { recursive: true, force: true });
  let sizeBytes = 0;
  for (const name of ['model.json', ...weights]) {
    const source = path.join(from, name);
    const sourceStat = await stat(source).catch(() => null);
    if (sourceStat === null || sourceStat.size === 0) {
      throw new DataError('empty', `${source} is missing or empty, but ${modelFile} needs it.`, source);
    }
    await mkdir(path.dirname(path.join(to, name)), { recursive: true });
    await copyFile(source, path.join(to, name));
    sizeBytes += sourceStat.size;
  }
  return sizeBytes;
}

/** A NumPy v1.0 file of `bitmaps.length / 784` uint8 rows, laid out as Google's (header padded to 64 bytes). */
export function encodeNpy(bitmaps: Uint8Array): Uint8Array {
  const rows = bitmaps.length / 784;
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${rows}, 784), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + bitmaps.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(bitmaps, 10 + header.length);
  return out;
}

/** Rows a cached .npy holds, or 0 when it is absent or unreadable (it is then fetched again). */
async function cachedRows(file: string): Promise<number> {
  const handle = await open(file, 'r').catch(() => null);
  if (handle === null) return 0;
  try {
    const head = new Uint8Array(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const header = parseNpyHeader(head.subarray(0, bytesRead), file);
    const sizeBytes = (await handle.stat()).size;
    return header !== null && sizeBytes >= header.dataOffsetBytes + header.rows * header.rowBytes ? header.rows : 0;
  } catch {
    return 0;
  } finally {
    await handle.close();
  }
}

export interface NpyCacheResult {
  /** Categories that Google has, in the order asked. */
  available: string[];
  downloaded: number;
}

/**
 * Makes `<cacheDir>/numpy_bitmap/<category>.npy` hold the first `rowsOf(category)` rows of Google's file,
 * for each category Google has. `required` categories that Google lacks are an error; others are skipped.
 */
export async function cacheNpy(baseUrl: string, cacheDir: string, categories: readonly string[],
  rowsOf: (category: string) => number, required: ReadonlySet<string>, concurrency: number): Promise<NpyCacheResult> {
  const source = openSource(baseUrl);
  const present = new Array<boolean>(categories.length).fill(false);
  let downloaded = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < categories.length) {
      const index = next++;
      // Bounded by the loop condition.
      const category = categories[index] as string;
      const file = path.join(cacheDir, 'numpy_bitmap', `${category}.npy`);
      if (await cachedRows(file) >= rowsOf(category)) {
        present[index] = true;
        continue;
      }
      const { file: remote, tried } = await source.locate(category, 'npy');
      if (remote === null) {
        if (required.has(category)) throw new DataError('http', `${tried.join(', ')} does not exist.`, tried[0]);
        continue;
      }
      await writeAtomically(file, encodeNpy(await source.readNpy(remote, rowsOf(category))));
      present[index] = true;
      downloaded += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { available: categories.filter((_, i) => present[i] === true), downloaded };
}
