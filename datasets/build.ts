// `npm run dataset`: the command line around buildDataset (datasets/builder.ts). Parses flags, prints one
// line per category, and exits non-zero with one message naming the bad file or flag. Node only.
// Usage and formats: datasets/README.md.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DataError } from '../src/core/errors.ts';
import { buildDataset, DEFAULT_DATASET_NAME, DEFAULT_DRAWINGS_PER_SHARD, type BuildOptions } from './builder.ts';
import { BuildError, FORMAT_CHOICES, type FormatChoice } from './sources.ts';

export { buildDataset, type BuildOptions } from './builder.ts';

const USAGE = `Usage: npm run dataset -- --source <directory or base URL> --categories "cat,dog,The Eiffel Tower" --out <dir>
  [--per-category N] [--drawings-per-shard ${DEFAULT_DRAWINGS_PER_SHARD}] [--format auto|npy|simplified|raw] [--name ${DEFAULT_DATASET_NAME}]`;

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new BuildError('bad-option', `${flag} must be a positive whole number, not "${value}".`, flag);
  return Number(value);
}

/** Turns argv into BuildOptions; throws BuildError('bad-option') for anything missing or malformed. */
export function parseCommandLine(argv: readonly string[]): BuildOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        source: { type: 'string' },
        categories: { type: 'string' },
        out: { type: 'string' },
        'per-category': { type: 'string' },
        'drawings-per-shard': { type: 'string' },
        format: { type: 'string' },
        name: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new BuildError('bad-option', error instanceof Error ? error.message : String(error));
  }
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : undefined;
  };
  const source = text('source');
  const categories = text('categories');
  const out = text('out');
  if (source === undefined || categories === undefined || out === undefined) {
    const missing = [source === undefined ? '--source' : '', categories === undefined ? '--categories' : '', out === undefined ? '--out' : '']
      .filter((flag) => flag.length > 0);
    throw new BuildError('bad-option', `Missing ${missing.join(', ')}.`, missing[0]);
  }
  const format = text('format') ?? 'auto';
  if (!FORMAT_CHOICES.some((choice) => choice === format)) {
    throw new BuildError('bad-option', `--format must be one of ${FORMAT_CHOICES.join(', ')}, not "${format}".`, '--format');
  }
  const options: BuildOptions = {
    source,
    out,
    categories: categories.split(',').map((name) => name.trim()).filter((name) => name.length > 0),
    // Checked against FORMAT_CHOICES just above.
    format: format as FormatChoice,
    name: text('name') ?? DEFAULT_DATASET_NAME,
  };
  const perCategory = wholeNumber(text('per-category'), '--per-category');
  if (perCategory !== undefined) options.perCategory = perCategory;
  const drawingsPerShard = wholeNumber(text('drawings-per-shard'), '--drawings-per-shard');
  if (drawingsPerShard !== undefined) options.drawingsPerShard = drawingsPerShard;
  return options;
}

export async function main(argv: readonly string[]): Promise<number> {
  const started = performance.now();
  try {
    const options = parseCommandLine(argv);
    options.onProgress = (p) => {
      const from = path.relative(process.cwd(), p.location) || p.location;
      console.log(`[${p.done}/${p.total}] ${p.category}: ${p.drawingCount} drawings from ${p.location.includes('://') ? p.location : from} → ${p.shardCount} shard(s)`);
    };
    const manifest = await buildDataset(options);
    const drawings = manifest.categories.reduce((sum, c) => sum + c.drawingCount, 0);
    const sizeBytes = manifest.shards.reduce((sum, s) => sum + s.sizeBytes, 0);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`Wrote ${path.join(options.out, 'manifest.json')}: ${manifest.categories.length} categories, ${drawings} drawings, ` +
      `${manifest.shards.length} shards, ${(sizeBytes / 1e6).toFixed(1)} MB in ${seconds} s.`);
    return 0;
  } catch (error) {
    if (error instanceof BuildError && error.code === 'bad-option') {
      console.error(`error: ${error.message}\n${USAGE}`);
      return 2;
    }
    if (error instanceof BuildError || error instanceof DataError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/** True when this file is the script node was started with (not when assets.ts or a test imports it). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
