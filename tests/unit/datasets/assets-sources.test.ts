// datasets/assets-sources.ts: the assets script's inputs — model files copied by what model.json names,
// Google's .npy rows cached as valid smaller .npy files that reruns reuse, and the online probe.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/core/errors.ts';
import { decodeNpy } from '../../../src/core/data/npy.ts';
import { cacheModel, cacheNpy, copyModel, encodeNpy, probeOnline, weightFilesOf } from '../../../datasets/assets-sources.ts';
import { fixtureRows, makeNpy, serveDirectory, withTempDir } from '../fixtures.ts';

const MODEL_JSON = JSON.stringify({
  modelTopology: {},
  weightsManifest: [{ paths: ['group1-shard1of1'], weights: [] }, { paths: ['group2-shard1of2', 'group2-shard2of2'], weights: [] }],
});

async function writeModel(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.json'), MODEL_JSON);
  for (const name of ['group1-shard1of1', 'group2-shard1of2', 'group2-shard2of2']) await writeFile(path.join(dir, name), `weights of ${name}`);
  await writeFile(path.join(dir, 'metadata.json'), 'not part of the model');
}

describe('encodeNpy', () => {
  it('writes a .npy that decodes to the same rows, with a header like Google\'s', () => {
    const rows = fixtureRows(7);
    const bytes = encodeNpy(rows);
    expect(bytes.subarray(0, 128)).toEqual(makeNpy(7).subarray(0, 128));
    expect(decodeNpy(bytes).bitmaps).toEqual(rows);
  });
});

describe('model files', () => {
  it('lists the weight files model.json names, refusing paths that leave the folder', () => {
    expect(weightFilesOf(MODEL_JSON, 'model.json')).toEqual(['group1-shard1of1', 'group2-shard1of2', 'group2-shard2of2']);
    expect(() => weightFilesOf(JSON.stringify({ weightsManifest: [{ paths: ['../x'] }] }), 'm.json')).toThrow(/m\.json names a weight file "\.\.\/x"/);
    expect(() => weightFilesOf('{"modelTopology":{}}', 'm.json')).toThrow(/m\.json has no "weightsManifest"/);
    expect(() => weightFilesOf('{', 'm.json')).toThrow(/m\.json is not valid JSON/);
  });

  it('copies exactly model.json and its weights, replacing what was there', () => withTempDir(async (dir) => {
    await writeModel(path.join(dir, 'from'));
    await mkdir(path.join(dir, 'to'));
    await writeFile(path.join(dir, 'to', 'stale.bin'), 'old');
    const sizeBytes = await copyModel(path.join(dir, 'from'), path.join(dir, 'to'));
    expect((await readdir(path.join(dir, 'to'))).sort()).toEqual(['group1-shard1of1', 'group2-shard1of2', 'group2-shard2of2', 'model.json']);
    expect(sizeBytes).toBe(MODEL_JSON.length + 3 * 'weights of group1-shard1of1'.length);
  }));

  it('names a missing weight file', () => withTempDir(async (dir) => {
    await writeModel(dir);
    await writeFile(path.join(dir, 'group2-shard2of2'), '');
    await expect(copyModel(dir, path.join(dir, 'to'))).rejects.toThrow(`${path.join(dir, 'group2-shard2of2')} is missing or empty`);
  }));

  it('downloads the model once into the cache', () => withTempDir(async (dir) => {
    await writeModel(path.join(dir, 'site', 'mobilenet'));
    const server = await serveDirectory(path.join(dir, 'site'));
    try {
      const url = `${server.baseUrl}/mobilenet/model.json`;
      expect(await cacheModel(url, path.join(dir, 'cache'))).toBe(4);
      expect(await cacheModel(url, path.join(dir, 'cache'))).toBe(0);
      expect(await readFile(path.join(dir, 'cache', 'group2-shard2of2'), 'utf8')).toBe('weights of group2-shard2of2');
    } finally {
      await server.close();
    }
  }));
});

/** A GraphModel's model.json as TF Hub serves it: a graph topology and one weight group. */
const GRAPH_MODEL_JSON = JSON.stringify({
  modelTopology: { node: [{ name: 'images', op: 'Placeholder' }] },
  weightsManifest: [{ paths: ['group1-shard1of1'], weights: [] }],
});

describe('GraphModel from TF Hub', () => {
  it('fetches the weights with the query of model.json, as tfjs does and TF Hub requires', () => withTempDir(async (dir) => {
    const requested: string[] = [];
    // TF Hub answers without `?tfjs-format=file` with a web page, not the file: here, a 404.
    const server = createServer((request, response) => {
      requested.push(request.url ?? '');
      const url = new URL(request.url ?? '/', 'http://x');
      const body = url.pathname.endsWith('/model.json') ? GRAPH_MODEL_JSON : url.pathname.endsWith('/group1-shard1of1') ? 'graph weights' : null;
      if (body === null || url.search !== '?tfjs-format=file') response.writeHead(404).end();
      else response.writeHead(200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo; // listen() on a TCP port always gives an AddressInfo
      const url = `http://127.0.0.1:${port}/google/imagenet/mobilenet_v1_025_224/classification/1/model.json?tfjs-format=file`;
      expect(await cacheModel(url, path.join(dir, 'cache'))).toBe(2);
      expect(requested).toEqual([
        '/google/imagenet/mobilenet_v1_025_224/classification/1/model.json?tfjs-format=file',
        '/google/imagenet/mobilenet_v1_025_224/classification/1/group1-shard1of1?tfjs-format=file',
      ]);
      expect(await copyModel(path.join(dir, 'cache'), path.join(dir, 'out'))).toBe(GRAPH_MODEL_JSON.length + 'graph weights'.length);
      expect((await readdir(path.join(dir, 'out'))).sort()).toEqual(['group1-shard1of1', 'model.json']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }));

  it('copies the GraphModel ../shared keeps, and names what is missing', () => withTempDir(async (dir) => {
    await expect(copyModel(path.join(dir, 'imagenet'), path.join(dir, 'out'))).rejects.toThrow(
      `${path.join(dir, 'imagenet', 'model.json')} is missing: put Google's imagenet model (model.json + weight files) there.`);
    await mkdir(path.join(dir, 'imagenet'));
    await writeFile(path.join(dir, 'imagenet', 'model.json'), GRAPH_MODEL_JSON);
    await expect(copyModel(path.join(dir, 'imagenet'), path.join(dir, 'out'))).rejects.toThrow(/group1-shard1of1 is missing or empty/);
    await writeFile(path.join(dir, 'imagenet', 'group1-shard1of1'), 'graph weights');
    expect(await copyModel(path.join(dir, 'imagenet'), path.join(dir, 'out'))).toBe(GRAPH_MODEL_JSON.length + 'graph weights'.length);
  }));
});

describe('cacheNpy', () => {
  it('caches the first rows of each category Google has, skips optional ones it lacks, and reuses the cache', () => withTempDir(async (dir) => {
    await mkdir(path.join(dir, 'site', 'numpy_bitmap'), { recursive: true });
    await writeFile(path.join(dir, 'site', 'numpy_bitmap', 'cat.npy'), makeNpy(50));
    await writeFile(path.join(dir, 'site', 'numpy_bitmap', 'The Eiffel Tower.npy'), makeNpy(50, { pixel: () => 9 }));
    const server = await serveDirectory(path.join(dir, 'site'));
    try {
      const cache = path.join(dir, 'cache');
      const rowsOf = (c: string): number => (c === 'cat' ? 30 : 5);
      const run = () => cacheNpy(server.baseUrl, cache, ['cat', 'zigzag', 'The Eiffel Tower'], rowsOf, new Set(['cat']), 2);
      expect(await run()).toEqual({ available: ['cat', 'The Eiffel Tower'], downloaded: 2 });
      const cat = decodeNpy(new Uint8Array(await readFile(path.join(cache, 'numpy_bitmap', 'cat.npy'))));
      expect(cat.rows).toBe(30);
      expect(cat.bitmaps).toEqual(fixtureRows(30));
      expect(await run()).toEqual({ available: ['cat', 'The Eiffel Tower'], downloaded: 0 });
      const required = await cacheNpy(server.baseUrl, cache, ['dog'], rowsOf, new Set(['dog']), 1).catch((e: unknown) => e);
      expect(required).toBeInstanceOf(DataError);
      expect(String(required)).toContain(`${server.baseUrl}/numpy_bitmap/dog.npy does not exist`);
    } finally {
      await server.close();
    }
  }));
});

describe('probeOnline', () => {
  it('reports an unreachable host with a reason, within the timeout', async () => {
    const started = performance.now();
    const probe = await probeOnline('http://127.0.0.1:9/model.json', 2000);
    expect(probe.online).toBe(false);
    expect(performance.now() - started).toBeLessThan(2500);
  });
});
