// The configs the README and the benchmarks name (datasets/configs/*.json) are valid training configs on backbones
// the app serves, so `npm run pipeline -- --config …` with any of them gets past its first step.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backboneAt } from '../../../src/core/training/backbones.ts';
import { parseConfig } from '../../../src/core/training/train-config.ts';

const DIR = path.join(import.meta.dirname, '..', '..', '..', 'datasets', 'configs');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('datasets/configs', () => {
  it('holds the quality, fast and best configs', () => {
    expect(FILES).toEqual(expect.arrayContaining(['best.json', 'fast.json', 'quality.json']));
  });

  it.each(FILES)('%s is a valid config on a served backbone', (file) => {
    const config = parseConfig(JSON.parse(readFileSync(path.join(DIR, file), 'utf8')));
    const backbone = backboneAt(config.model.url);
    // Served by `npm run assets` (a canonical URL to fetch it from), so the pipeline trains it offline too.
    expect(backbone?.canonicalUrl, config.model.url).toBeDefined();
    expect(config.model.label).toBe(backbone!.label);
  });
});
