// src/core/data/ndjson.ts: Google's simplified and raw stroke files parse record by record, also when they
// arrive in arbitrary chunks; malformed lines are refused with the file and line named.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NdjsonLineSplitter, parseNdjson, parseRecord, strokeFormatOf } from '../../../src/core/data/ndjson.ts';
import { errorOf, HAS_SHARED_QUICKDRAW, ndjsonLine, SHARED_QUICKDRAW, simplifiedDrawing } from '../fixtures.ts';

describe('parseRecord', () => {
  it('reads the fields and the strokes of a simplified record', () => {
    const record = parseRecord(ndjsonLine('cat', simplifiedDrawing(3), '42'), 'cat.ndjson', 1);
    expect(record).toEqual({ word: 'cat', keyId: '42', countryCode: 'DE', recognized: true, drawing: simplifiedDrawing(3) });
    expect(strokeFormatOf(record)).toBe('simplified');
  });

  it('tells raw records (with timestamps) from simplified ones', () => {
    const raw = parseRecord(ndjsonLine('cat', [[[10, 20], [30, 40], [0, 16]]]), 'raw.ndjson', 1);
    expect(strokeFormatOf(raw)).toBe('raw');
  });

  it.each([
    ['cut-off JSON', '{"word":"cat","drawing":[[[1,2],[3', /line 7 is not valid JSON/],
    ['no drawing', JSON.stringify({ word: 'cat' }), /no "word" or no "drawing"/],
    ['a stroke with unequal arrays', ndjsonLine('cat', [[[1, 2, 3], [1, 2]]]), /malformed stroke/],
    // Deliberately the wrong element type, as a broken file would hold.
    ['a stroke with non-numbers', ndjsonLine('cat', [[['a'], [1]]] as unknown as number[][][]), /malformed stroke/],
    ['an empty stroke', ndjsonLine('cat', [[[], []]]), /malformed stroke/],
    ['not an object', '42', /not a Quick, Draw! record/],
  ])('refuses %s, naming file and line', (_, line, message) => {
    const error = errorOf(() => parseRecord(line, 'bad.ndjson', 7));
    expect(error.code).toBe('bad-record');
    expect(error.message).toMatch(message);
    expect(error.message).toContain('bad.ndjson');
  });
});

describe('parseNdjson', () => {
  it('skips blank lines, keeps order and stops at maxRecords', () => {
    const text = ['', ndjsonLine('a', simplifiedDrawing(1), '1'), '', ndjsonLine('a', simplifiedDrawing(2), '2'), ndjsonLine('a', simplifiedDrawing(3), '3')].join('\n');
    expect(parseNdjson(text).map((r) => r.keyId)).toEqual(['1', '2', '3']);
    expect(parseNdjson(text, 'a.ndjson', 2).map((r) => r.keyId)).toEqual(['1', '2']);
  });

  it('refuses a file with no records', () => {
    const error = errorOf(() => parseNdjson('\n\n', 'none.ndjson'));
    expect(error.code).toBe('empty');
    expect(error.message).toBe('none.ndjson holds no drawings.');
  });
});

describe('NdjsonLineSplitter', () => {
  it('gives the same lines whatever the chunk boundaries, even inside multi-byte characters', () => {
    const lines = [ndjsonLine('crème brûlée', simplifiedDrawing(1)), ndjsonLine('日本', simplifiedDrawing(2)), ndjsonLine('x', simplifiedDrawing(3))];
    const bytes = new TextEncoder().encode(`${lines.join('\n')}`);
    for (const chunkBytes of [1, 2, 3, 7, 64, bytes.length]) {
      const splitter = new NdjsonLineSplitter();
      const seen: string[] = [];
      for (let offset = 0; offset < bytes.length; offset += chunkBytes) seen.push(...splitter.push(bytes.subarray(offset, offset + chunkBytes)));
      seen.push(...splitter.finish());
      expect(seen).toEqual(lines);
    }
  });
});

describe.skipIf(!HAS_SHARED_QUICKDRAW)('real ndjson files (needs ../shared/quickdraw; skipped where it is absent)', () => {
  it('parses all 344 simplified files (25 records each) and the raw files as raw', () => {
    const simplified = readdirSync(path.join(SHARED_QUICKDRAW, 'simplified'));
    expect(simplified.length).toBe(344);
    for (const name of simplified) {
      const records = parseNdjson(readFileSync(path.join(SHARED_QUICKDRAW, 'simplified', name), 'utf8'), name);
      expect(records.length).toBe(25);
      expect(records.every((r) => strokeFormatOf(r) === 'simplified' && `${r.word}.ndjson` === name)).toBe(true);
    }
    for (const name of readdirSync(path.join(SHARED_QUICKDRAW, 'raw'))) {
      const records = parseNdjson(readFileSync(path.join(SHARED_QUICKDRAW, 'raw', name), 'utf8'), name);
      expect(records.length).toBeGreaterThanOrEqual(11);
      expect(records.every((r) => strokeFormatOf(r) === 'raw')).toBe(true);
    }
  });
});
