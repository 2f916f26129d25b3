// Parses Quick, Draw! stroke files in Google's ndjson formats (simplified: [xs, ys] strokes in 0–255;
// raw: [xs, ys, ts] strokes in screen pixels). Pure; runs in workers and Node. Works line by line so a
// caller can feed it a stream in chunks (see NdjsonLineSplitter).
import { DataError } from '../errors.ts';

/** One stroke: [xs, ys] or, in raw files, [xs, ys, ts] (ms). */
export type Stroke = number[][];
export type Strokes = Stroke[];

export interface QuickDrawRecord {
  word: string;
  keyId: string;
  countryCode?: string;
  recognized?: boolean;
  drawing: Strokes;
}

export type StrokeFormat = 'simplified' | 'raw';

/** Splits text arriving in chunks into complete lines; keeps the unfinished tail for the next chunk. */
export class NdjsonLineSplitter {
  private tail = '';
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  push(chunk: Uint8Array): string[] {
    const text = this.tail + this.decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.tail = lines.pop() ?? '';
    return lines.filter((line) => line.trim().length > 0);
  }

  /** The last line when the stream ends without a newline. */
  finish(): string[] {
    const last = this.tail + this.decoder.decode();
    this.tail = '';
    return last.trim().length > 0 ? [last] : [];
  }
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((n) => typeof n === 'number' && Number.isFinite(n));
}

/** Parses one ndjson line; `lineNumber` is 1-based and only used in messages. */
export function parseRecord(line: string, file: string, lineNumber: number): QuickDrawRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new DataError('bad-record', `${file} line ${lineNumber} is not valid JSON (is the file truncated?).`, file);
  }
  if (typeof value !== 'object' || value === null) {
    throw new DataError('bad-record', `${file} line ${lineNumber} is not a Quick, Draw! record.`, file);
  }
  const record = value as Record<string, unknown>;
  const drawing = record['drawing'];
  if (typeof record['word'] !== 'string' || !Array.isArray(drawing) || drawing.length === 0) {
    throw new DataError('bad-record', `${file} line ${lineNumber} has no "word" or no "drawing" strokes.`, file);
  }
  for (const stroke of drawing) {
    const parts: unknown[] = Array.isArray(stroke) ? stroke : [];
    const xs = parts[0];
    if (parts.length < 2 || parts.length > 3 || !parts.every(isNumberArray) || !Array.isArray(xs) ||
        !parts.every((p) => (p as number[]).length === xs.length) || xs.length === 0) {
      throw new DataError('bad-record', `${file} line ${lineNumber} has a malformed stroke (expected [xs, ys] or [xs, ys, ts] of equal length).`, file);
    }
  }
  const parsed: QuickDrawRecord = {
    word: record['word'],
    keyId: String(record['key_id'] ?? lineNumber),
    // Checked element by element above; JSON.parse cannot tell TypeScript so.
    drawing: drawing as Strokes,
  };
  if (typeof record['countrycode'] === 'string') parsed.countryCode = record['countrycode'];
  if (typeof record['recognized'] === 'boolean') parsed.recognized = record['recognized'];
  return parsed;
}

/** Simplified strokes have two arrays a stroke; raw ones carry timestamps as a third. */
export function strokeFormatOf(record: QuickDrawRecord): StrokeFormat {
  return record.drawing.some((stroke) => stroke.length === 3) ? 'raw' : 'simplified';
}

/** Parses a whole ndjson text. Throws DataError('empty') when it holds no records. */
export function parseNdjson(text: string, file = 'the .ndjson file', maxRecords = Infinity): QuickDrawRecord[] {
  const records: QuickDrawRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && records.length < maxRecords; i++) {
    const line = lines[i] ?? '';
    if (line.trim().length === 0) continue;
    records.push(parseRecord(line, file, i + 1));
  }
  if (records.length === 0) throw new DataError('empty', `${file} holds no drawings.`, file);
  return records;
}
