// HTTP reads for the dataset build and the assets script: typed errors for failed requests, streamed
// bodies, and .npy rows fetched with Range requests (falling back to a stopped stream when the server
// ignores Range). Node only (global fetch).
import { DataError } from '../src/core/errors.ts';
import { concatBytes } from '../src/core/data/bytes.ts';
import { decodeNpy, parseNpyHeader, type NpyHeader } from '../src/core/data/npy.ts';

/**
 * fetch() that turns failures into DataErrors naming the URL. Statuses in `allowed` (e.g. 404 while
 * probing) come back as responses instead; their bodies are discarded.
 */
export async function requestOrThrow(url: string, init: RequestInit, allowed: readonly number[]): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new DataError('network', `Could not reach ${url} (${cause}). Check the address and your connection.`, url, true);
  }
  if (response.ok) return response;
  await response.body?.cancel();
  if (allowed.includes(response.status)) return response;
  if (response.status === 404 || response.status === 410) {
    throw new DataError('http', `${url} does not exist (HTTP ${response.status}).`, url);
  }
  throw new DataError('http', `${url} answered HTTP ${response.status} ${response.statusText}.`, url, response.status >= 500);
}

/** The body as chunks; leaving the loop early cancels the download. */
export async function* streamChunks(response: Response, url: string): AsyncGenerator<Uint8Array> {
  if (response.body === null) return;
  const reader = response.body.getReader();
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new DataError('network', `The download of ${url} broke off (${reason}). Try again.`, url, true);
      }
      if (result.done) return;
      yield result.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Bytes arriving in pieces, joined on demand. */
class ByteBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  bytes(): Uint8Array {
    if (this.chunks.length > 1) this.chunks = [concatBytes(this.chunks)];
    return this.chunks[0] ?? new Uint8Array(0);
  }
}

/** Google's .npy headers are 128 bytes; asking for that much up front usually needs a single request. */
const USUAL_HEADER_BYTES = 128;
const HEADER_PROBE_BYTES = 4096;

/** The file's total size from Content-Range ("bytes 0-99/1234") or, on a plain 200, Content-Length. */
function totalSizeOf(response: Response): number | null {
  const range = /\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '')?.[1];
  if (response.status === 206) return range === undefined ? null : Number(range);
  const length = response.headers.get('content-length');
  // A compressed body's length says nothing about the file's.
  return length !== null && response.headers.get('content-encoding') === null ? Number(length) : null;
}

/**
 * The first `maxRows` rows (all when Infinity) of a remote .npy, as rows × 784 bytes. Asks for header plus
 * rows with one Range request, follows up with more ranges when the header was longer than usual, and
 * stops reading a full (200) response once it has enough.
 */
export async function readNpyOverHttp(url: string, maxRows: number): Promise<Uint8Array> {
  const limited = Number.isFinite(maxRows);
  const rangeHeaders = (from: number, to: number): RequestInit =>
    limited ? { headers: { Range: `bytes=${from}-${to}` } } : {};
  const buffer = new ByteBuffer();
  let header: NpyHeader | null = null;
  let totalBytes: number | null = null;
  const neededBytes = (): number =>
    header === null ? buffer.length + HEADER_PROBE_BYTES : header.dataOffsetBytes + Math.min(header.rows, maxRows) * header.rowBytes;

  let end = USUAL_HEADER_BYTES + (limited ? maxRows : 0) * 784 - 1;
  for (;;) {
    // 416: the range starts at or past the end of the file, which for the first request means it is empty.
    const response = await requestOrThrow(url, rangeHeaders(buffer.length, end), [416]);
    if (response.status === 416) break;
    if (response.status === 200 && buffer.length > 0) {
      throw new DataError('http', `${url} stopped honouring Range requests half-way; try again.`, url, true);
    }
    totalBytes ??= totalSizeOf(response);
    const before = buffer.length;
    for await (const chunk of streamChunks(response, url)) {
      buffer.push(chunk);
      header ??= parseNpyHeader(buffer.bytes(), url);
      if (buffer.length >= neededBytes()) break;
    }
    const exhausted = buffer.length === before || (totalBytes !== null && buffer.length >= totalBytes);
    if (response.status !== 206 || buffer.length >= neededBytes() || exhausted) break;
    end = neededBytes() - 1;
  }

  if (buffer.length === 0) throw new DataError('empty', `${url} is empty.`, url);
  if (header !== null && totalBytes !== null) {
    const promisedBytes = header.dataOffsetBytes + header.rows * header.rowBytes;
    if (totalBytes < promisedBytes) {
      const complete = Math.max(0, Math.floor((totalBytes - header.dataOffsetBytes) / header.rowBytes));
      throw new DataError('truncated', `${url} is truncated: its header promises ${header.rows} drawings but only ${complete} are complete.`, url);
    }
  }
  return decodeNpy(buffer.bytes(), url, maxRows).bitmaps;
}
