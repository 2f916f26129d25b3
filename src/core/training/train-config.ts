// The training config: one JSON document (schema in train-config.schema.json, presets in presets/) that fully
// describes a run, so the UI, the pipeline and a resumed run all train the same thing. Pure TS, any thread.
import Ajv, { type ErrorObject } from 'ajv';
import type { AugmentOptions, TestTimeAugmentation } from './augment.ts';
import { plainMessage, problemsOf, type ConfigProblem } from './config-problems.ts';
import type { FineTuneMode } from './mobilenet.ts';
import schema from './train-config.schema.json' with { type: 'json' };
import headPreset from './presets/head.json' with { type: 'json' };
import lastBlocksPreset from './presets/last-blocks.json' with { type: 'json' };
import wholePreset from './presets/whole.json' with { type: 'json' };
import tinyPreset from './presets/tiny.json' with { type: 'json' };

export interface TrainConfig {
  name: string;
  /** What a preset does, in one sentence (shown under the Preset select). */
  description?: string;
  model: { label: string; url: string };
  mode: FineTuneMode;
  /** Blocks trained in 'last-blocks' mode (MobileNet v1 has 13). */
  trainableBlocks: number;
  inputSizePx: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** 'cosine' anneals the rate to 0 over the run (a function of the step, so a resumed run continues it). */
  learningRateSchedule: 'constant' | 'cosine';
  /** Epochs of linear warm-up before the schedule (may be fractional; 0: none). */
  warmupEpochs: number;
  /** Weight moved from the true class to all classes evenly in the training targets (0: plain one-hot). */
  labelSmoothing: number;
  dropoutRate: number;
  /** 'flip': guesses average a drawing's probabilities with its mirror image's (augment.ts testTimeViews). */
  testTimeAugmentation: TestTimeAugmentation;
  /** 'tfjs' keeps training steps off the engine (the reference path); 'auto' uses it wherever it covers the run. */
  engine: 'auto' | 'tfjs';
  augmentation: AugmentOptions;
  dataset: { datasetId: string; categories: string[]; maxPerCategory: number; testDatasetId?: string };
  split: { validationFraction: number; testFraction: number };
  /** Which tfjs backend to try first ('auto': see backend.ts chooseBackend). */
  backend: 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  seed: number;
}

/** `message` names fields by JSON path (for config files); `plainMessage` names them as the form labels them. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly problems: ConfigProblem[]) {
    super(message);
  }

  get plainMessage(): string {
    return plainMessage(this.problems);
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true });
const check = ajv.compile<TrainConfig>(schema);

/** Validates (filling defaults) and returns a fresh config; throws ConfigError listing every problem. */
export function parseConfig(input: unknown): TrainConfig {
  const copy: unknown = structuredClone(input);
  if (!check(copy)) throw new ConfigError(`Invalid training config: ${describe(check.errors ?? [])}`, problemsOf(check.errors ?? []));
  const config = copy;
  const { validationFraction, testFraction } = config.split;
  if (validationFraction + testFraction >= 1) {
    throw new ConfigError('Invalid training config: validation and test fractions must leave drawings to train on.',
      [{ path: '/split', field: 'Split', sentence: 'the validation and test fractions leave no drawings to train on; keep their sum under 1.' }]);
  }
  const twice = config.dataset.categories.find((name, i) => config.dataset.categories.indexOf(name) !== i);
  if (twice !== undefined) {
    throw new ConfigError('Invalid training config: a category is listed twice.',
      [{ path: '/dataset/categories', field: 'Classes to train', sentence: `“${twice}” is listed twice.` }]);
  }
  return config;
}

function describe(errors: ErrorObject[]): string {
  return errors.map((e) => {
    const where = e.instancePath || '(config)';
    if (e.keyword === 'additionalProperties') return `${where} has an unknown field “${String(e.params['additionalProperty'])}”`;
    if (e.keyword === 'enum') return `${where} must be one of ${(e.params['allowedValues'] as unknown[]).join(', ')}`;
    return `${where} ${e.message ?? 'is invalid'}`;
  }).join('; ');
}

/** Presets shipped with the app and used by the pipeline's configs; each is a valid config. */
export const PRESETS: Record<string, TrainConfig> = Object.fromEntries(
  [headPreset, lastBlocksPreset, wholePreset, tinyPreset].map((preset) => [preset.name, parseConfig(preset)]),
);

/** How many blocks a config trains, given how many the backbone has. */
export function trainableBlocksOf(config: TrainConfig, totalBlocks: number): number {
  if (config.mode === 'head') return 0;
  if (config.mode === 'whole') return totalBlocks;
  return Math.min(config.trainableBlocks, totalBlocks);
}

/** The learning rate for one batch: `step` of `totalSteps` (0-based) under the config's warm-up and schedule. */
export function learningRateAt(config: Pick<TrainConfig, 'learningRate' | 'learningRateSchedule' | 'warmupEpochs' | 'epochs'>, step: number, totalSteps: number): number {
  // Configs stored before warm-up and schedules existed have neither: they ran at a constant rate.
  const warmup = warmupStepsOf(config, totalSteps);
  if (step < warmup) return config.learningRate * (step + 1) / warmup;
  const rest = totalSteps - warmup;
  if (config.learningRateSchedule !== 'cosine' || rest <= 1) return config.learningRate;
  return config.learningRate * 0.5 * (1 + Math.cos(Math.PI * Math.min(step - warmup, rest) / rest));
}

/** Steps of warm-up in a run of `totalSteps`: the config's warm-up epochs as a share of its epochs, rounded down. */
function warmupStepsOf(config: Pick<TrainConfig, 'warmupEpochs' | 'epochs'>, totalSteps: number): number {
  const epochs = config.warmupEpochs ?? 0;
  return epochs > 0 ? Math.min(totalSteps, Math.floor(totalSteps * epochs / config.epochs)) : 0;
}

/** The rate and its schedule as the runs table and the comparison show them: "0.001", "0.001 (cosine)" or "0.001 (cosine, warm-up 1 ep)". */
export function learningRateLabel(config: Pick<TrainConfig, 'learningRate' | 'learningRateSchedule' | 'warmupEpochs'>): string {
  const parts = [config.learningRateSchedule === 'cosine' ? 'cosine' : '', (config.warmupEpochs ?? 0) > 0 ? `warm-up ${config.warmupEpochs} ep` : ''].filter((p) => p !== '');
  return `${config.learningRate}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}
