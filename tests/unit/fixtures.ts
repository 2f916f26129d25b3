// Byte fixtures for unit tests, generated in code: NumPy .npy files (good and deliberately broken),
// Quick, Draw! ndjson lines, temp directories, a tiny HTTP file server, and where ../shared is. Node only.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from '../../src/core/errors.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');
export const SHARED_QUICKDRAW = path.join(SHARED_DIR, 'quickdraw');
export const HAS_SHARED_QUICKDRAW = existsSync(SHARED_QUICKDRAW);

export interface NpyFixtureOptions {
  /** Pixel value of byte `i` of row `row`; defaults to a pattern unique enough to spot reordered rows. */
  pixel?: (row: number, i: number) => number;
  version?: 1 | 2;
  descr?: string;
  fortranOrder?: boolean;
  /** Written verbatim in place of "(rows, 784)". */
  shape?: string;
}

export const rowPattern = (row: number, i: number): number => (i * 7 + row * 13) % 256;

/** The rows a fixture holds, back to back, as makeNpy writes them. */
export function fixtureRows(rows: number, pixel: (row: number, i: number) => number = rowPattern): Uint8Array {
  const data = new Uint8Array(rows * 784);
  for (let row = 0; row < rows; row++) for (let i = 0; i < 784; i++) data[row * 784 + i] = pixel(row, i);
  return data;
}

/** A NumPy .npy file of `rows` 28×28 uint8 bitmaps (header padded to 64 bytes as NumPy does). */
export function makeNpy(rows: number, options: NpyFixtureOptions = {}): Uint8Array {
  const version = options.version ?? 1;
  const prefixBytes = version === 1 ? 10 : 12;
  const descr = options.descr ?? '|u1';
  const shape = options.shape ?? `(${rows}, 784)`;
  let header = `{'descr': '${descr}', 'fortran_order': ${options.fortranOrder === true ? 'True' : 'False'}, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((prefixBytes + header.length + 1) % 64)) % 64) + '\n';
  const data = fixtureRows(rows, options.pixel);
  const out = new Uint8Array(prefixBytes + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefixBytes);
  out.set(data, prefixBytes + header.length);
  return out;
}

/** One ndjson line in Google's simplified (2 arrays a stroke) or raw (3 arrays) format. */
export function ndjsonLine(word: string, drawing: number[][][], keyId = '1'): string {
  return JSON.stringify({ word, countrycode: 'DE', timestamp: '2017-03-01 00:00:00.0 UTC', recognized: true, key_id: keyId, drawing });
}

/** A simplified drawing that differs per `n`: a diagonal and a horizontal stroke in 0–255. */
export function simplifiedDrawing(n: number): number[][][] {
  const k = n % 200;
  return [[[0, 255], [0, 255]], [[k, 255 - k, 128], [k, 40, 200]]];
}

export async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'doodle-lab-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface FileServer {
  baseUrl: string;
  /** Requests seen, e.g. "GET /numpy_bitmap/cat.npy bytes=0-999". */
  requests: string[];
  /** Body bytes sent so far. */
  bytesSent: () => number;
  close: () => Promise<void>;
}

/**
 * Serves `root` over HTTP on 127.0.0.1. Honours single `Range: bytes=a-b` requests unless `ignoreRange`;
 * `statusFor` can force an error status for a path.
 */
export async function serveDirectory(root: string, options: { ignoreRange?: boolean; statusFor?: (urlPath: string) => number | null } = {}): Promise<FileServer> {
  const requests: string[] = [];
  let sent = 0;
  const server: Server = createServer((request, response) => {
    void (async () => {
      const urlPath = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      const range = request.headers.range;
      requests.push(`${request.method ?? 'GET'} ${urlPath}${range === undefined ? '' : ` ${range}`}`);
      const forced = options.statusFor?.(urlPath) ?? null;
      const file = path.join(root, urlPath);
      const info = forced === null && file.startsWith(root) ? await stat(file).catch(() => null) : null;
      if (forced !== null || info === null || !info.isFile()) {
        response.writeHead(forced ?? 404).end();
        return;
      }
      const bytes = await readFile(file);
      const match = options.ignoreRange === true ? null : /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
      let body = bytes;
      if (match !== null) {
        const start = Number(match[1]);
        const end = Math.min(bytes.length - 1, match[2] === '' ? bytes.length - 1 : Number(match[2]));
        if (start >= bytes.length) {
          response.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
          return;
        }
        body = bytes.subarray(start, end + 1);
        response.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': body.length });
      } else {
        response.writeHead(200, { 'Content-Length': bytes.length });
      }
      if (request.method === 'HEAD') {
        response.end();
        return;
      }
      // Small writes, so a client that stops early really does leave bytes unsent.
      for (let offset = 0; offset < body.length && !response.destroyed; offset += 16_384) {
        const piece = body.subarray(offset, offset + 16_384);
        sent += piece.length;
        if (!response.write(piece)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              response.off('drain', done).off('close', done);
              resolve();
            };
            response.on('drain', done).on('close', done);
          });
        }
      }
      response.end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    bytesSent: () => sent,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Runs `work` and returns the DataError it throws; fails the test when it throws nothing or something else. */
export function errorOf(work: () => unknown): DataError {
  try {
    work();
  } catch (error) {
    if (error instanceof DataError) return error;
    throw error;
  }
  throw new Error('expected a DataError');
}
