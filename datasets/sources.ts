// Where the dataset build reads Google-format Quick, Draw! files from: a local directory (Google's
// sub-folders or the files directly) or a base URL such as Google's bucket. Finds a category's file and
// reads only the drawings asked for (HTTP Range for .npy, stop-early streaming for .ndjson). Node only.
import { open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { DataError } from '../src/core/errors.ts';
import { decodeNpy, parseNpyHeader } from '../src/core/data/npy.ts';
import { NdjsonLineSplitter, parseRecord, type QuickDrawRecord } from '../src/core/data/ndjson.ts';
import { readNpyOverHttp, requestOrThrow, streamChunks } from './http.ts';

export type SourceFormat = 'npy' | 'simplified' | 'raw';
export type FormatChoice = SourceFormat | 'auto';
export const FORMAT_CHOICES: readonly FormatChoice[] = ['auto', 'npy', 'simplified', 'raw'];

/** Failures of the build itself rather than of a file's bytes (those are DataErrors from src/core). */
export class BuildError extends Error {
  override readonly name = 'BuildError';
  constructor(
    readonly code: 'missing-file' | 'bad-option',
    message: string,
    /** The file, URL or option the problem is in. */
    readonly file?: string,
  ) {
    super(message);
  }
}

/** A category's file, found in a source. `location` is a path or URL and names it in messages. */
export interface SourceFile {
  format: SourceFormat;
  location: string;
}

export interface LocateResult {
  file: SourceFile | null;
  /** Every path or URL looked at, in order; used to say where a missing category was searched for. */
  tried: string[];
}

export interface DataSource {
  /** The directory or base URL, as a person would recognise it. */
  readonly description: string;
  locate(category: string, choice: FormatChoice): Promise<LocateResult>;
  /** At most `maxRows` rows × 784 bytes. */
  readNpy(file: SourceFile, maxRows: number): Promise<Uint8Array>;
  /** At most `maxRecords` records, in file order; reading stops once that many are parsed. */
  readNdjson(file: SourceFile, maxRecords: number): Promise<QuickDrawRecord[]>;
}

const FOLDER: Record<SourceFormat, string> = { npy: 'numpy_bitmap', simplified: 'simplified', raw: 'raw' };
const EXTENSION: Record<SourceFormat, string> = { npy: 'npy', simplified: 'ndjson', raw: 'ndjson' };

function formatsFor(choice: FormatChoice): SourceFormat[] {
  return choice === 'auto' ? ['npy', 'simplified', 'raw'] : [choice];
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export function openSource(source: string): DataSource {
  return isUrl(source) ? new HttpSource(source) : new DirectorySource(path.resolve(source));
}

/** Reads ndjson chunks line by line and stops after `maxRecords`; breaking out lets the caller close the stream. */
async function collectRecords(chunks: AsyncIterable<Uint8Array>, file: string, maxRecords: number): Promise<QuickDrawRecord[]> {
  const splitter = new NdjsonLineSplitter();
  const records: QuickDrawRecord[] = [];
  const take = (lines: string[]): boolean => {
    for (const line of lines) {
      if (records.length >= maxRecords) return true;
      records.push(parseRecord(line, file, records.length + 1));
    }
    return records.length >= maxRecords;
  };
  let full = false;
  for await (const chunk of chunks) {
    if (take(splitter.push(chunk))) {
      full = true;
      break;
    }
  }
  if (!full) take(splitter.finish());
  if (records.length === 0) throw new DataError('empty', `${file} holds no drawings.`, file);
  return records;
}

class DirectorySource implements DataSource {
  constructor(private readonly root: string) {}

  get description(): string {
    return this.root;
  }

  async locate(category: string, choice: FormatChoice): Promise<LocateResult> {
    const rootStat = await stat(this.root).catch(() => null);
    if (rootStat === null || !rootStat.isDirectory()) {
      throw new BuildError('missing-file', `The source directory ${this.root} does not exist (or is not a directory).`, this.root);
    }
    const tried: string[] = [];
    // Names typed on macOS arrive decomposed (NFD); files written elsewhere are usually composed (NFC).
    const spellings = [...new Set([category, category.normalize('NFC'), category.normalize('NFD')])];
    for (const format of formatsFor(choice)) {
      for (const folder of [FOLDER[format], '']) {
        for (const name of spellings) {
          const location = path.join(this.root, folder, `${name}.${EXTENSION[format]}`);
          if (tried.includes(location)) continue;
          tried.push(location);
          const found = await stat(location).catch(() => null);
          if (found?.isFile() === true) return { file: { format, location }, tried };
        }
      }
    }
    return { file: null, tried };
  }

  async readNpy(file: SourceFile, maxRows: number): Promise<Uint8Array> {
    const handle = await open(file.location, 'r');
    try {
      const sizeBytes = (await handle.stat()).size;
      if (sizeBytes === 0) throw new DataError('empty', `${file.location} is empty.`, file.location);
      // Headers are 128 bytes in Google's files; NumPy allows up to 64 KiB, which this still covers.
      const head = new Uint8Array(Math.min(sizeBytes, 70_000));
      await handle.read(head, 0, head.length, 0);
      const header = parseNpyHeader(head, file.location);
      if (header === null) return decodeNpy(head, file.location, maxRows).bitmaps;
      const promisedBytes = header.dataOffsetBytes + header.rows * header.rowBytes;
      if (sizeBytes < promisedBytes) {
        const complete = Math.max(0, Math.floor((sizeBytes - header.dataOffsetBytes) / header.rowBytes));
        throw new DataError('truncated',
          `${file.location} is truncated: its header promises ${header.rows} drawings but only ${complete} are complete.`, file.location);
      }
      const neededBytes = header.dataOffsetBytes + Math.min(header.rows, maxRows) * header.rowBytes;
      const bytes = new Uint8Array(neededBytes);
      let done = 0;
      while (done < neededBytes) {
        const { bytesRead } = await handle.read(bytes, done, neededBytes - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return decodeNpy(bytes.subarray(0, done), file.location, maxRows).bitmaps;
    } finally {
      await handle.close();
    }
  }

  async readNdjson(file: SourceFile, maxRecords: number): Promise<QuickDrawRecord[]> {
    const stream = createReadStream(file.location);
    try {
      // A Node read stream yields Buffers, which are Uint8Arrays.
      return await collectRecords(stream as AsyncIterable<Uint8Array>, file.location, maxRecords);
    } finally {
      stream.destroy();
    }
  }
}

class HttpSource implements DataSource {
  private readonly base: string;

  constructor(base: string) {
    this.base = base.replace(/\/+$/, '');
  }

  get description(): string {
    return this.base;
  }

  async locate(category: string, choice: FormatChoice): Promise<LocateResult> {
    const tried: string[] = [];
    for (const format of formatsFor(choice)) {
      const location = `${this.base}/${FOLDER[format]}/${encodeURIComponent(category)}.${EXTENSION[format]}`;
      tried.push(location);
      // HEAD is enough to tell "not there" (404/410) from "there"; other statuses are real errors.
      const response = await requestOrThrow(location, { method: 'HEAD' }, [404, 410]);
      if (response.ok) return { file: { format, location }, tried };
    }
    return { file: null, tried };
  }

  readNpy(file: SourceFile, maxRows: number): Promise<Uint8Array> {
    return readNpyOverHttp(file.location, maxRows);
  }

  async readNdjson(file: SourceFile, maxRecords: number): Promise<QuickDrawRecord[]> {
    const response = await requestOrThrow(file.location, {}, []);
    return collectRecords(streamChunks(response, file.location), file.location, maxRecords);
  }
}
