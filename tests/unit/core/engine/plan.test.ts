// The engine's plan of the real MobileNet v1 α=0.25 (from public/assets) plus the app's head: every layer of the
// backbone accounted for, shapes as tfjs computes them, TensorFlow's 'same' padding, and weights that round-trip
// between a LayersModel and the engine's two flat buffers under their Keras names.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packWeights, planMobileNetV1, samePadding, SLOT_ALIGN_FLOATS, unpackWeights, UnsupportedModelError } from '../../../../src/core/engine/plan.ts';
import { loadBackbone, splitBackbone } from '../../../../src/core/mobilenet.ts';
import { folderHandler } from '../../model-fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('samePadding', () => {
  it('puts the odd pixel after the image, as TensorFlow does', () => {
    expect(samePadding(32, 3, 2, 'same')).toEqual({ out: 16, before: 0 });
    expect(samePadding(33, 3, 2, 'same')).toEqual({ out: 17, before: 1 });
    expect(samePadding(2, 3, 2, 'same')).toEqual({ out: 1, before: 0 });
    expect(samePadding(7, 3, 1, 'same')).toEqual({ out: 7, before: 1 });
    expect(samePadding(8, 3, 2, 'valid')).toEqual({ out: 3, before: 0 });
  });
});

describe('planMobileNetV1', () => {
  it.each([32, 48])('plans the whole network at %i px with the shapes tfjs computes', async (size) => {
    const backbone = await loadBackbone(folderHandler(), size);
    const plan = planMobileNetV1(backbone.features, 10);
    const kinds = plan.steps.map((s) => s.kind);
    expect(kinds.filter((k) => k === 'conv')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'depthwise')).toHaveLength(13);
    expect(kinds.filter((k) => k === 'pointwise')).toHaveLength(13);
    expect(kinds.filter((k) => k === 'bn-relu6')).toHaveLength(27);
    expect(kinds.slice(-2)).toEqual(['pool', 'dense']);
    // Every spatial step ends where the model's layer ends.
    for (const step of plan.steps) {
      if (step.kind !== 'conv' && step.kind !== 'depthwise') continue;
      const shape = backbone.features.getLayer(step.name).outputShape as number[];
      expect([step.outH, step.outW], step.name).toEqual([shape[1], shape[2]]);
    }
    const strided = plan.steps.flatMap((s) => (s.kind === 'depthwise' && s.stride === 2 ? [s.name] : []));
    expect(strided).toEqual(['conv_dw_2', 'conv_dw_4', 'conv_dw_6', 'conv_dw_12']);
    // Every weight of the backbone is in one of the two buffers, plus the head's kernel and bias.
    const floats = (slots: typeof plan.params) => slots.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
    expect(floats(plan.params) + floats(plan.state)).toBe(backbone.features.countParams() + 256 * 10 + 10);
    for (const s of [...plan.params, ...plan.state]) expect(s.offset % SLOT_ALIGN_FLOATS, s.name).toBe(0);
    // Slots never overlap, and the buffers end after the last one.
    for (const slots of [plan.params, plan.state]) {
      slots.forEach((s, i) => { if (i > 0) expect(s.offset).toBeGreaterThanOrEqual(slots[i - 1]!.offset + floats([slots[i - 1]!])); });
    }
    expect(plan.paramCount).toBeGreaterThanOrEqual(plan.params.at(-1)!.offset + floats([plan.params.at(-1)!]));
    expect(plan.params.map((p) => p.name)).toContain('conv_pw_13_bn/gamma');
    expect(plan.state.map((p) => p.name)).toContain('conv_pw_13_bn/moving_variance');
    backbone.features.dispose();
  });

  it('round-trips every weight of a split model between the LayersModel and the flat buffers', async () => {
    const backbone = await loadBackbone(folderHandler(), 32);
    const split = splitBackbone(backbone, 13, { numClasses: 3, dropoutRate: 0, seed: 1 });
    const plan = planMobileNetV1(backbone.features, 3);
    const { params, state } = await packWeights(plan, split.trainable);
    expect(params).toHaveLength(plan.paramCount);
    const unpacked = unpackWeights(plan, params, state);
    for (const weight of split.trainable.weights) {
      const slot = unpacked.get(weight.originalName);
      expect(slot, weight.originalName).toBeDefined();
      expect(Array.from(slot!.values)).toEqual(Array.from(await weight.read().data()));
    }
    expect(unpacked.size).toBe(split.trainable.weights.length);
    backbone.features.dispose();
  });

  it('refuses a layer it does not cover, so the tfjs path trains that model', () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const output = tf.layers.maxPooling2d({ poolSize: 2 }).apply(input) as tf.SymbolicTensor;
    expect(() => planMobileNetV1(tf.model({ inputs: input, outputs: output }), 3)).toThrow(UnsupportedModelError);
  });
});
