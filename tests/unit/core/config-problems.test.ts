import { describe, expect, it } from 'vitest';
import { storageProblem } from '../../../src/core/training/config-problems.ts';
import type { StoredDatasetSummary } from '../../../src/core/ingest/ingest-protocol.ts';
import { ConfigError, parseConfig, PRESETS } from '../../../src/core/training/train-config.ts';

function plainOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.plainMessage;
    throw error;
  }
  throw new Error('the config was accepted');
}

const tiny = PRESETS['tiny']!;

describe('plain-words config errors', () => {
  it('names the field as the form labels it and says what to do', () => {
    expect(plainOf({ ...tiny, dataset: { ...tiny.dataset, categories: ['cat'] } })).toBe('Classes to train: choose at least 2 classes.');
    expect(plainOf({ ...tiny, epochs: 0 })).toBe('Epochs: enter a value of at least 1.');
    expect(plainOf({ ...tiny, batchSize: 2.5 })).toBe('Batch size: enter a whole number.');
    expect(plainOf({ ...tiny, learningRate: null })).toBe('Learning rate: enter a number.');
    expect(plainOf({ ...tiny, learningRate: 0 })).toBe('Learning rate: enter a value above 0.');
    expect(plainOf({ ...tiny, inputSizePx: 300 })).toBe('Input size (px): enter a value of at most 224.');
    expect(plainOf({ ...tiny, dataset: { ...tiny.dataset, maxPerCategory: 0 } })).toBe('Max drawings per class: enter a value of at least 1.');
    expect(plainOf({ ...tiny, dataset: { ...tiny.dataset, categories: ['cat', ''] } })).toBe('Classes to train: a class name is empty.');
    expect(plainOf({ ...tiny, dataset: { ...tiny.dataset, categories: ['cat', 'dog', 'cat'] } })).toBe('Classes to train: “cat” is listed twice.');
    expect(plainOf({ ...tiny, model: { label: 'x', url: '' } })).toBe('Model URL: must not be empty.');
  });

  it('lists one sentence per field, in order, with no JSON paths', () => {
    const message = plainOf({ ...tiny, epochs: 0, mode: 'everything', inputSizePx: 16, extra: true });
    expect(message).toBe('Training config: has a field this app does not know (“extra”). Mode: choose one of head, last-blocks, whole. Input size (px): enter a value of at least 32. Epochs: enter a value of at least 1.');
    expect(message).not.toMatch(/\/|must NOT|>=/);
    const { epochs: _epochs, ...missing } = tiny;
    expect(plainOf(missing)).toBe('Epochs: is missing.');
  });

  it('keeps the JSON paths in the message for config files', () => {
    expect(() => parseConfig({ ...tiny, epochs: 0 })).toThrow('Invalid training config: /epochs must be >= 1');
  });
});

describe('storageProblem', () => {
  const stored: StoredDatasetSummary[] = [{
    datasetId: 'quickdraw', label: 'Quick, Draw!', storedDrawings: 300, storedBytes: 1,
    categories: ['cat', 'airplane', 'rainbow', 'dog'].map((name) => ({ datasetId: 'quickdraw', name, storedDrawings: name === 'dog' ? 0 : 100, storedBytes: 1 })),
  }];
  const config = (categories: string[], datasetId = 'quickdraw') => ({ dataset: { datasetId, categories } });

  it('accepts classes that have stored drawings', () => {
    expect(storageProblem(config(['cat', 'airplane', 'rainbow']), stored)).toBeNull();
  });

  it('names classes without stored drawings, and what is stored', () => {
    const problem = storageProblem(config(['cat', 'Dog', 'dog']), stored);
    expect(problem?.field).toBe('Classes to train');
    expect(problem?.sentence).toMatch(/^“Dog”, “dog” have no stored drawings in “quickdraw” \(class names must match exactly; stored: cat, airplane, rainbow\)/);
  });

  it('says when the dataset has nothing stored', () => {
    expect(storageProblem(config(['cat', 'dog'], 'imported'), stored)).toMatchObject({ field: 'Dataset', sentence: expect.stringMatching(/nothing is stored in “imported” yet/) });
    expect(storageProblem(config(['cat', 'dog']), [])).toMatchObject({ field: 'Dataset' });
  });
});
