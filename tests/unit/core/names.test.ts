import { describe, expect, it } from 'vitest';
import { distinctName } from '../../../src/core/training/names.ts';

describe('distinctName', () => {
  it('keeps a free name as it is', () => {
    expect(distinctName('whole network', ['tiny', 'head only'])).toBe('whole network');
  });

  it('numbers a taken name with the first free suffix', () => {
    expect(distinctName('whole network', ['whole network'])).toBe('whole network 2');
    expect(distinctName('whole network', ['whole network', 'whole network 2', 'whole network 4'])).toBe('whole network 3');
  });

  it('numbers a name that already ends in a number after it, not inside it', () => {
    expect(distinctName('tiny 2', ['tiny 2'])).toBe('tiny 2 2');
  });
});
