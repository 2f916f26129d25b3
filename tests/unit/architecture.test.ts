// The direction of the house, enforced (run by `npm test` with the unit tests): core never reaches up into state,
// ui or workers; state never into ui; the page imports tfjs nowhere (the trainer and inference bundles are the
// workers'); and ui takes from core only types, or values from the small core modules that are themselves free of
// tfjs (categories, the config schema, formats of errors and estimates): what would otherwise be copied into ui.
// Imports are read from the source text: static, side-effect, re-export and dynamic ones, in .ts and .svelte files.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Import {
  /** What the file wrote: './x.ts', '@tensorflow/tfjs'. */
  specifier: string;
  /** The imported file, relative to the repository root, for relative imports; null for packages. */
  target: string | null;
  /** `import type`, or every named import marked `type`: nothing of it exists at run time. */
  typeOnly: boolean;
}

const IMPORT = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceOf(file: string): string {
  const text = readFileSync(join(ROOT, file), 'utf8');
  if (!file.endsWith('.svelte')) return text;
  // A component's imports live in its <script> blocks.
  return [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
}

function importsOf(file: string): Import[] {
  const imports: Import[] = [];
  for (const m of sourceOf(file).matchAll(IMPORT)) {
    const specifier = (m[4] ?? m[5] ?? m[6])!;
    const names = m[3] ?? '';
    const braced = /^\{([\s\S]*)\}$/.exec(names.trim());
    const allTyped = braced !== null && braced[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').every((s) => s.startsWith('type '));
    const typeOnly = m[2] !== undefined || (m[4] !== undefined && allTyped && braced![1]!.trim() !== '');
    const target = specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), specifier)) : null;
    imports.push({ specifier, target, typeOnly });
  }
  return imports;
}

function filesUnder(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) {
        if (name !== 'generated') walk(path);
      } else if (/\.(ts|svelte)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
    }
  };
  walk(folder);
  return out;
}

/** The packages a file pulls in at run time, following its value imports through the repository's own files. */
function runtimePackages(file: string, seen = new Set<string>()): Set<string> {
  const packages = new Set<string>();
  if (seen.has(file)) return packages;
  seen.add(file);
  for (const i of importsOf(file)) {
    if (i.typeOnly) continue;
    if (i.target === null) packages.add(i.specifier);
    else if (existsSync(join(ROOT, i.target)) && /\.(ts|svelte)$/.test(i.target)) for (const p of runtimePackages(i.target, seen)) packages.add(p);
  }
  return packages;
}

const isTfjs = (specifier: string): boolean => specifier.startsWith('@tensorflow/') || specifier.startsWith('@tensorflow-models/');
const within = (target: string | null, folder: string): boolean => target !== null && (target === folder || target.startsWith(`${folder}/`));

describe('the direction of imports', () => {
  it('reads the imports it checks (a check that finds nothing proves nothing)', () => {
    const imports = importsOf('src/ui/train/TrainPage.svelte');
    expect(imports).toContainEqual({ specifier: '../../state/train.svelte.ts', target: 'src/state/train.svelte.ts', typeOnly: true });
    expect(imports.some((i) => i.target === 'src/ui/ErrorBanner.svelte' && !i.typeOnly)).toBe(true);
    expect(importsOf('workers/data.worker.ts')).toContainEqual({ specifier: './thread-errors.ts', target: 'workers/thread-errors.ts', typeOnly: false });
    expect(runtimePackages('src/core/inference/inference.ts').has('@tensorflow/tfjs')).toBe(true);
    expect(filesUnder('src/core').length).toBeGreaterThan(30);
  });

  it('keeps src/core free of state, ui and workers', () => {
    const upward = filesUnder('src/core').flatMap((file) =>
      importsOf(file).filter((i) => within(i.target, 'src/state') || within(i.target, 'src/ui') || within(i.target, 'workers')).map((i) => `${file} → ${i.specifier}`));
    expect(upward).toEqual([]);
  });

  it('keeps src/state free of ui', () => {
    const upward = filesUnder('src/state').flatMap((file) => importsOf(file).filter((i) => within(i.target, 'src/ui')).map((i) => `${file} → ${i.specifier}`));
    expect(upward).toEqual([]);
  });

  it('lets src/ui take only types from core, or values from core modules that carry no tfjs', () => {
    const heavy = filesUnder('src/ui').flatMap((file) =>
      importsOf(file)
        .filter((i) => !i.typeOnly && within(i.target, 'src/core') && [...runtimePackages(i.target!)].some(isTfjs))
        .map((i) => `${file} → ${i.specifier}`));
    expect(heavy).toEqual([]);
    const fromWorkers = filesUnder('src/ui').flatMap((file) => importsOf(file).filter((i) => !i.typeOnly && within(i.target, 'workers')).map((i) => `${file} → ${i.specifier}`));
    expect(fromWorkers).toEqual([]);
  });

  it('loads no tfjs on the page: the app entry reaches it through no value import', () => {
    expect([...runtimePackages('src/main.ts')].filter(isTfjs)).toEqual([]);
  });
});
