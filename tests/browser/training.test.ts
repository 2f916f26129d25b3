// Training in the browser's backends (GPU ones on SwiftShader here): a few epochs of the last MobileNet blocks
// on WebGPU, WebGL and WASM give finite, falling loss; and the backend probe reports what it chose and why.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import '../../workers/wasm-backend.ts';
import { describe, expect, it } from 'vitest';
import { chooseBackend } from '../../src/core/training/backend.ts';
import { loadBackbone } from '../../src/core/training/mobilenet.ts';
import { parseConfig, PRESETS } from '../../src/core/training/train-config.ts';
import { Trainer, type TrainingData } from '../../src/core/training/training.ts';
import { bars } from './helpers.ts';

const MODEL_URL = '/assets/models/mobilenet_v1_0.25_224/model.json';

describe('auto', () => {
  it('prefers WASM to WebGPU and WebGL that run in software, saying so (this Chromium renders on SwiftShader)', async () => {
    const choice = await chooseBackend('auto');
    expect(choice.name).toBe('wasm');
    expect(choice.reason).toMatch(/^WASM \(CPU\): WebGPU runs in software here \(.*swiftshader.*\), slower than WASM; WebGL runs in software here \(.*SwiftShader.*\)/i);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('keeps a hardware GPU first', async () => {
    const choice = await chooseBackend('auto', [], async (name) => (name === 'webgpu' ? 'nvidia ampere' : 'ANGLE (NVIDIA, GeForce RTX 3060)'));
    expect(choice).toEqual({ name: 'webgpu', reason: 'WebGPU: the fastest backend this browser offers' });
  });

  it('puts a software WebGL after WASM but keeps a hardware WebGPU first', async () => {
    const choice = await chooseBackend('auto', [], async (name) => (name === 'webgpu' ? 'apple metal-3' : 'llvmpipe (LLVM 15.0.6, 256 bits)'));
    expect(choice.name).toBe('webgpu');
    expect(choice.reason).toMatch(/^WebGPU: WebGL runs in software here \(llvmpipe/);
  });

  it('still uses a software GPU backend when WASM is out', async () => {
    const choice = await chooseBackend('auto', ['wasm'], async () => 'SwiftShader Device');
    expect(choice.name).toBe('webgpu');
  });
});

const REASONS = { webgpu: /^WebGPU: as asked/, webgl: /^WebGL: as asked/, wasm: /^WASM \(CPU\): as asked/ };

describe.each(['webgpu', 'webgl', 'wasm'] as const)('training on %s', (backend) => {
  it('is the backend the probe picks when asked, with a reason', async () => {
    const choice = await chooseBackend(backend);
    expect(choice.name).toBe(backend);
    expect(choice.reason).toMatch(REASONS[backend]);
    expect(tf.getBackend()).toBe(backend);
  });

  it('gives finite, falling loss over a few epochs of the last two blocks', async () => {
    await chooseBackend(backend);
    const config = parseConfig({ ...PRESETS['tiny'], mode: 'last-blocks', trainableBlocks: 2, inputSizePx: 32, epochs: 4, batchSize: 12, learningRate: 0.003 });
    const data: TrainingData = { classNames: ['a', 'b', 'c'], imageSizePx: 28, train: bars(8, 1), validation: bars(2, 2), test: bars(2, 3) };
    const trainer = new Trainer(config, await loadBackbone(tf.io.http(MODEL_URL), 32), data);
    const losses: number[] = [];
    const tensorCounts: number[] = [];
    await trainer.cacheFeatures(() => {});
    await trainer.train({
      onProgress: (p) => {
        if (p.kind !== 'epoch') return;
        losses.push(p.metrics.loss);
        tensorCounts.push(tf.memory().numTensors);
      },
      saveCheckpoint: async () => {},
      betweenBatches: async () => 'go',
      checkpointEverySec: 1e9,
    });
    expect(losses).toHaveLength(4);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    // Nothing is left behind per epoch on these backends either.
    expect(new Set(tensorCounts).size).toBe(1);
    trainer.dispose();
  });
});
