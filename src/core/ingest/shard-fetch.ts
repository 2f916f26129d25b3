// Turns one HTTP response into a verified shard: streams the body into a buffer sized by the manifest, tells
// a dropped connection (transient) from a short or overlong file (final), checks SHA-256 and the shard's
// contents (the strokes decoded, zero-run coded bitmaps checked and kept coded).
// Used by ingest.ts; pure, runs in the data worker and in browser tests.
import { DataError } from '../errors.ts';
import type { ShardEntry } from '../data/manifest.ts';
import { BITMAP_BYTES } from '../data/render.ts';
import { sha256Hex } from '../data/sha256.ts';
import { openShard, SHARD_HEADER_BYTES } from '../data/shard.ts';
import { truncateZeroRuns } from '../data/zero-runs.ts';
import { sizeOf, type NewShard } from '../data/store.ts';

export interface PlannedShard {
  entry: ShardEntry;
  url: string;
  /** Drawings of this shard inside the first `maxPerCategory` of its category. */
  keep: number;
}

export interface FetchedShard extends NewShard {
  keep: number;
  /** The file's size, as downloaded (`sizeBytes` is what the kept drawings take in storage). */
  fileBytes: number;
}

export function httpError(status: number, url: string): DataError {
  if (status >= 500 || status === 408 || status === 429) {
    return new DataError('http', `The server answered HTTP ${status} for ${url}.`, url, true);
  }
  if (status === 404) {
    return new DataError('http', `The server has no ${url} (HTTP 404). The served dataset is incomplete or was rebuilt: reload the page, and if it persists rebuild it (npm run assets).`, url);
  }
  return new DataError('http', `The server refused ${url} (HTTP ${status}).`, url);
}

export const networkError = (url: string, detail: string): DataError =>
  new DataError('network', `The connection failed while downloading ${url} (${detail}). Check your connection; the download resumes where it stopped.`, url, true);

/**
 * Streams a body into `buffer` (sized from the manifest), reporting each chunk's length; returns the buffer
 * holding the bytes. Byte streams (fetch bodies in Chromium and Firefox) are read straight into it with a
 * BYOB reader, saving a copy of every chunk; other streams are copied chunk by chunk.
 */
export async function streamInto(response: Response, buffer: Uint8Array, url: string, signal: AbortSignal, onChunk: (length: number) => void): Promise<Uint8Array> {
  // BYOB reads detach the buffers they fill, so take the size while it can still be read.
  const size = buffer.length;
  const tooLong = (): DataError => new DataError('checksum', `${url} is longer than the ${size} bytes its manifest entry says; the dataset on the server changed — reload the page.`, url);
  const dropped = (error: unknown, received: number): unknown =>
    signal.aborted ? error : networkError(url, `dropped after ${received} of ${size} bytes`);
  const body = response.body;
  if (body === null) {
    const whole = new Uint8Array(await response.arrayBuffer());
    if (whole.length > size) throw tooLong();
    buffer.set(whole);
    onChunk(whole.length);
    return buffer;
  }
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    // Not a byte stream (Safari's fetch bodies, a stream built in code): fall back to copying chunks.
  }
  let received = 0;
  if (byob !== null) {
    // Each read transfers the buffer it fills, so carry on with the one it hands back.
    let target = buffer;
    for (;;) {
      const full = received === size;
      // A full buffer still needs one read to see the end; a 1-byte probe tells the end from extra bytes.
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await byob.read(full ? new Uint8Array(1) : target.subarray(received));
      } catch (error) {
        throw dropped(error, received);
      }
      if (chunk.done) return target;
      if (full) {
        void byob.cancel().catch(() => undefined);
        throw tooLong();
      }
      target = new Uint8Array(chunk.value.buffer, 0, size);
      received += chunk.value.length;
      onChunk(chunk.value.length);
    }
  }
  const reader = body.getReader();
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      throw dropped(error, received);
    }
    if (chunk.done) return buffer;
    if (received + chunk.value.length > size) {
      void reader.cancel().catch(() => undefined);
      throw tooLong();
    }
    buffer.set(chunk.value, received);
    received += chunk.value.length;
    onChunk(chunk.value.length);
  }
}

/**
 * Checks a complete download against its manifest entry and takes the drawings to keep. Zero-run-coded bitmaps
 * stay coded (cut at `keep` when fewer are kept): the store decodes them when read, and writes and keeps about
 * 2.5× fewer bytes meanwhile.
 */
export async function verify(buffer: Uint8Array, { entry, url, keep }: PlannedShard): Promise<FetchedShard> {
  if ((await sha256Hex(buffer)) !== entry.sha256) {
    throw new DataError('checksum', `${url} failed its checksum: its SHA-256 is not the one in the manifest, so the file is corrupt. Rebuild the dataset (npm run assets) or reload the page.`, url);
  }
  const contents = openShard(buffer, url);
  if (contents.drawingCount !== entry.drawingCount || contents.firstIndex !== entry.firstIndex) {
    throw new DataError('bad-header', `${url} holds drawings ${contents.firstIndex}–${contents.firstIndex + contents.drawingCount - 1}, not the ${entry.firstIndex}–${entry.firstIndex + entry.drawingCount - 1} its manifest entry lists.`, url);
  }
  const whole = keep === contents.drawingCount;
  // openShard counted a coded stream's pixels, so a cut at fewer of them always succeeds.
  const stored = !contents.zeroRuns ? contents.storedBitmaps.subarray(0, keep * BITMAP_BYTES)
    : whole ? contents.storedBitmaps : truncateZeroRuns(contents.storedBitmaps, keep * BITMAP_BYTES);
  if (stored === null) throw new DataError('bad-record', `${url} has damaged bitmaps.`, url);
  const bitmaps: FetchedShard['bitmaps'] = contents.zeroRuns ? { zeroRuns: stored, drawingCount: keep } : stored;
  const strokes = whole ? contents.strokes : contents.strokes?.slice(0, keep) ?? null;
  // What the shard takes in storage (the Data page's sizes): a whole one, its file after the header (its
  // strokes are not serialized again); a cut one, the bitmaps and strokes kept.
  const sizeBytes = whole ? buffer.length - SHARD_HEADER_BYTES : sizeOf(stored, strokes);
  return { category: entry.category, index: entry.index, firstIndex: entry.firstIndex, sha256: entry.sha256, sizeBytes, bitmaps, strokes, keep, fileBytes: entry.sizeBytes };
}
