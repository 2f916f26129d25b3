// datasets/http.ts + the URL source in datasets/sources.ts: a base URL gives the same dataset as the same
// files on disk, .npy rows come from Range requests (or a stream stopped early when Range is ignored),
// and HTTP failures name the URL.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/core/errors.ts';
import { buildDataset } from '../../../datasets/builder.ts';
import { readNpyOverHttp } from '../../../datasets/http.ts';
import { fixtureRows, makeNpy, ndjsonLine, serveDirectory, simplifiedDrawing, withTempDir, type FileServer } from '../fixtures.ts';

const BIG_ROWS = 20_000; // 15.7 MB: far more than any socket buffer, so reading too much would show

async function withServer<T>(options: Parameters<typeof serveDirectory>[1], work: (server: FileServer, dir: string) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    await mkdir(path.join(dir, 'numpy_bitmap'));
    await mkdir(path.join(dir, 'simplified'));
    await writeFile(path.join(dir, 'numpy_bitmap', 'cat.npy'), makeNpy(BIG_ROWS, { pixel: (row, i) => (row + i) % 256 }));
    // A header longer than Google's 128 bytes, so the first Range request falls short.
    await writeFile(path.join(dir, 'numpy_bitmap', 'long header.npy'), makeNpy(30, { shape: `(30,${' '.repeat(300)}784)` }));
    const lines = Array.from({ length: 500 }, (_, i) => ndjsonLine('The Eiffel Tower', simplifiedDrawing(i), String(i)));
    await writeFile(path.join(dir, 'simplified', 'The Eiffel Tower.ndjson'), `${lines.join('\n')}\n`);
    const server = await serveDirectory(dir, options);
    try {
      return await work(server, dir);
    } finally {
      await server.close();
    }
  });
}

async function dataErrorOf(work: () => Promise<unknown>): Promise<DataError> {
  try {
    await work();
  } catch (error) {
    if (error instanceof DataError) return error;
    throw error;
  }
  throw new Error('expected a DataError');
}

describe('readNpyOverHttp', () => {
  it('fetches just header + N rows with one Range request', () => withServer({}, async (server) => {
    const rows = await readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/cat.npy`, 10);
    expect(rows).toEqual(fixtureRows(10, (row, i) => (row + i) % 256));
    expect(server.requests).toEqual([`GET /numpy_bitmap/cat.npy bytes=0-${128 + 10 * 784 - 1}`]);
    expect(server.bytesSent()).toBe(128 + 10 * 784);
  }));

  it('asks for the rest when the header is longer than usual', () => withServer({}, async (server) => {
    expect(await readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/long%20header.npy`, 3)).toEqual(fixtureRows(3));
    expect(server.requests.length).toBe(2);
  }));

  it('stops reading early when the server ignores Range', () => withServer({ ignoreRange: true }, async (server) => {
    const rows = await readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/cat.npy`, 10);
    expect(rows).toEqual(fixtureRows(10, (row, i) => (row + i) % 256));
    // Socket buffers let some more through, but nowhere near the whole 15.7 MB file.
    expect(server.bytesSent()).toBeLessThan(BIG_ROWS * 784 / 2);
  }));

  it('names the URL of a missing, failing or truncated file', () => withServer({ statusFor: (p) => (p.includes('broken') ? 500 : null) }, async (server, dir) => {
    const missing = await dataErrorOf(() => readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/dog.npy`, 5));
    expect([missing.code, missing.message]).toEqual(['http', `${server.baseUrl}/numpy_bitmap/dog.npy does not exist (HTTP 404).`]);
    const failing = await dataErrorOf(() => readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/broken.npy`, 5));
    expect(failing.message).toBe(`${server.baseUrl}/numpy_bitmap/broken.npy answered HTTP 500 Internal Server Error.`);
    expect(failing.transient).toBe(true);
    const bytes = makeNpy(10);
    await writeFile(path.join(dir, 'numpy_bitmap', 'cut.npy'), bytes.subarray(0, bytes.length - 1000));
    const cut = await dataErrorOf(() => readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/cut.npy`, 3));
    expect(cut.code).toBe('truncated');
    expect(cut.message).toContain('/numpy_bitmap/cut.npy is truncated: its header promises 10 drawings but only 8 are complete');
    await writeFile(path.join(dir, 'numpy_bitmap', 'empty.npy'), '');
    expect((await dataErrorOf(() => readNpyOverHttp(`${server.baseUrl}/numpy_bitmap/empty.npy`, 3))).code).toBe('empty');
  }));

  it('says when the server cannot be reached', async () => {
    const error = await dataErrorOf(() => readNpyOverHttp('http://127.0.0.1:9/numpy_bitmap/cat.npy', 1));
    expect(error.code).toBe('network');
    expect(error.message).toContain('Could not reach http://127.0.0.1:9/numpy_bitmap/cat.npy');
  });
});

describe('buildDataset from a base URL', () => {
  it('writes the same bytes as from the same files on disk', () => withServer({}, async (server, dir) => {
    const categories = ['cat', 'The Eiffel Tower'];
    await buildDataset({ source: `${server.baseUrl}/`, categories, perCategory: 1200, out: path.join(dir, 'from-url') });
    await buildDataset({ source: dir, categories, perCategory: 1200, out: path.join(dir, 'from-disk') });
    const names = await readdir(path.join(dir, 'from-url', 'shards'));
    expect(names).toEqual(['000-0000.qds', '000-0001.qds', '001-0000.qds']);
    for (const name of ['manifest.json', ...names.map((n) => `shards/${n}`)]) {
      expect((await readFile(path.join(dir, 'from-url', name))).equals(await readFile(path.join(dir, 'from-disk', name))), name).toBe(true);
    }
    expect(server.requests).toContain('HEAD /simplified/The Eiffel Tower.ndjson');
  }));

  it('reports a category the server does not have, with the URLs tried', () => withServer({}, async (server, dir) => {
    const error = await buildDataset({ source: server.baseUrl, categories: ['kat'], out: path.join(dir, 'out') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect(String(error)).toContain(`none of ${server.baseUrl}/numpy_bitmap/kat.npy, ${server.baseUrl}/simplified/kat.ndjson, ${server.baseUrl}/raw/kat.ndjson exists`);
  }));
});
