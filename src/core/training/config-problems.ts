// A training config's problems in plain words, naming each field as the Train page's form labels it ("Epochs:
// enter a value of at least 1.") instead of as a JSON path, and the check that the chosen classes are stored.
// Pure TS, any thread: the page checks before asking the worker, and the worker checks again before a run exists.
import type { ErrorObject } from 'ajv';
import type { StoredDatasetSummary } from '../ingest/ingest-protocol.ts';

export interface ConfigProblem {
  /** The JSON path of the field, '' for the whole config (config files and the pipeline show this). */
  path: string;
  /** The field as the form labels it. */
  field: string;
  /** One sentence a person can act on, without the field's name. */
  sentence: string;
}

/** Form labels by JSON path; paths with an index (/dataset/categories/3) fall back to their parent. */
const FIELDS: Record<string, string> = {
  '': 'Training config',
  '/name': 'Run name',
  '/model': 'Model',
  '/model/label': 'Model',
  '/model/url': 'Model URL',
  '/mode': 'Mode',
  '/trainableBlocks': 'Trainable blocks',
  '/inputSizePx': 'Input size (px)',
  '/epochs': 'Epochs',
  '/batchSize': 'Batch size',
  '/learningRate': 'Learning rate',
  '/learningRateSchedule': 'Learning-rate schedule',
  '/warmupEpochs': 'Warm-up',
  '/labelSmoothing': 'Label smoothing',
  '/dropoutRate': 'Dropout rate',
  '/testTimeAugmentation': 'Test-time augmentation',
  '/augmentation': 'Augmentation',
  '/dataset': 'Dataset',
  '/dataset/datasetId': 'Dataset',
  '/dataset/categories': 'Classes to train',
  '/dataset/maxPerCategory': 'Max drawings per class',
  '/dataset/testDatasetId': 'Test dataset',
  '/split': 'Split',
  '/split/validationFraction': 'Validation fraction',
  '/split/testFraction': 'Test fraction',
  '/backend': 'Backend',
  '/seed': 'Seed',
};

export function fieldOf(path: string): string {
  for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const field = FIELDS[p];
    if (field !== undefined) return field;
    if (p === '') return 'Training config';
  }
}

/** Turns ajv's errors into one problem per field (the first error of a field is the one a person fixes first). */
export function problemsOf(errors: readonly ErrorObject[]): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const error of errors) {
    const path = error.keyword === 'required' ? `${error.instancePath}/${String(error.params['missingProperty'])}` : error.instancePath;
    const field = fieldOf(path);
    if (!problems.has(field)) problems.set(field, { path, field, sentence: sentenceOf(error, path) });
  }
  return [...problems.values()];
}

function sentenceOf(error: ErrorObject, path: string): string {
  const limit = error.params['limit'] as number;
  const classes = path.startsWith('/dataset/categories');
  switch (error.keyword) {
    case 'minItems': return classes ? `choose at least ${limit} classes.` : `give at least ${limit}.`;
    case 'minimum': return `enter a value of at least ${limit}.`;
    case 'maximum': return `enter a value of at most ${limit}.`;
    case 'exclusiveMinimum': return `enter a value above ${limit}.`;
    case 'minLength': return classes ? 'a class name is empty.' : 'must not be empty.';
    case 'maxLength': return `use at most ${limit} characters.`;
    case 'required': return 'is missing.';
    case 'enum': return `choose one of ${(error.params['allowedValues'] as unknown[]).join(', ')}.`;
    case 'type': return error.params['type'] === 'integer' ? 'enter a whole number.' : error.params['type'] === 'number' ? 'enter a number.' : `must be a ${String(error.params['type'])}.`;
    case 'additionalProperties': return `has a field this app does not know (“${String(error.params['additionalProperty'])}”).`;
    default: return `is not valid (${error.message ?? error.keyword}).`;
  }
}

/** "Epochs: enter a value of at least 1. Classes to train: choose at least 2 classes." */
export function plainMessage(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.sentence}`).join(' ');
}

/**
 * Whether the config's dataset and classes have stored drawings, from the stored datasets' summaries; a problem
 * in plain words, or null. Checked before a run is created so that a missing class is a message, not a failed run.
 */
export function storageProblem(config: { dataset: { datasetId: string; categories: string[] } }, stored: readonly StoredDatasetSummary[]): ConfigProblem | null {
  const { datasetId, categories } = config.dataset;
  const dataset = stored.find((d) => d.datasetId === datasetId);
  if (dataset === undefined || dataset.storedDrawings === 0) {
    return { path: '/dataset/datasetId', field: 'Dataset', sentence: `nothing is stored in “${datasetId}” yet: download or import drawings on the Data page first.` };
  }
  const have = new Set(dataset.categories.filter((c) => c.storedDrawings > 0).map((c) => c.name));
  const missing = categories.filter((name) => !have.has(name));
  if (missing.length === 0) return null;
  const names = missing.map((name) => `“${name}”`).join(', ');
  const known = [...have].slice(0, 12).join(', ') + (have.size > 12 ? ', …' : '');
  return {
    path: '/dataset/categories', field: 'Classes to train',
    sentence: `${names} ${missing.length === 1 ? 'has' : 'have'} no stored drawings in “${datasetId}” (class names must match exactly; stored: ${known}). Download ${missing.length === 1 ? 'it' : 'them'} on the Data page or choose stored classes.`,
  };
}
