// The engine's plan of the real MobileNet v1 α=0.25 (from public/assets) plus the app's head: every layer of the
// backbone accounted for, shapes as tfjs computes them, TensorFlow's 'same' padding, and weights that round-trip
// between a LayersModel and the engine's two flat buffers under their Keras names. Then MobileNet v2 from the real
// Teachable Machine export (../shared): nested models opened up, zero padding folded, residual adds and their skips.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packWeights, planMobileNetV1, samePadding, SLOT_ALIGN_FLOATS, unpackWeights, UnsupportedModelError } from '../../../../src/core/engine/plan.ts';
import { loadBackbone, splitBackbone } from '../../../../src/core/training/mobilenet.ts';
import { teachableArtifacts, teachableBackboneArtifacts } from '../../../../datasets/teachable-machine.ts';
import { folderHandler, teachableFiles, TM_DIR } from '../../model-fixtures.ts';

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

describe.skipIf(!existsSync(TM_DIR))('planMobileNetV1 on MobileNet v2 (the Teachable Machine export in ../shared)', () => {
  it('plans the whole export: 17 blocks, 10 residual adds, linear projections, the dense ReLU + softmax head', async () => {
    const model = await tf.loadLayersModel(tf.io.fromMemory(teachableArtifacts(await teachableFiles())));
    const plan = planMobileNetV1(model, 10, { inference: true });
    const count = (kind: string) => plan.steps.filter((s) => s.kind === kind).length;
    expect([count('conv'), count('depthwise'), count('pointwise'), count('bn-relu6'), count('bn-linear'), count('add'), count('pool'), count('dense')])
      .toEqual([1, 17, 16 + 17 + 1, 1 + 17 + 16 + 1, 17, 10, 1, 2]);
    expect(plan.steps.slice(-3).map((s) => (s.kind === 'dense' ? `${s.activation} ${s.inputs}→${s.units}${s.bias ? '' : ' no bias'}` : s.kind)))
      .toEqual(['pool', 'relu 1280→100', 'softmax 100→10 no bias']);
    // Every window ends where the model's layer ends, ZeroPadding2D folded in ([[0, 1], [0, 1]]: nothing before).
    // The export nests Sequential[Sequential[model4, pooling], Sequential[dense, dense]]: its first layer is a model.
    const backbone = (model.layers[0] as unknown as tf.LayersModel).getLayer('model4') as unknown as tf.LayersModel;
    for (const step of plan.steps) {
      if (step.kind !== 'conv' && step.kind !== 'depthwise') continue;
      const shape = backbone.getLayer(step.name).outputShape as number[];
      expect([step.outH, step.outW], step.name).toEqual([shape[1], shape[2]]);
      if (step.stride === 2) expect([step.padTop, step.padLeft], step.name).toEqual([0, 0]);
    }
    expect(plan.steps.flatMap((s) => (s.kind === 'depthwise' && s.stride === 2 ? [s.name] : []))).toEqual(['block_1_depthwise', 'block_3_depthwise', 'block_6_depthwise', 'block_13_depthwise']);
    // Each add reads the previous block's output: its project BN, or that block's own add.
    const name = (i: number) => ('name' in plan.steps[i]! ? (plan.steps[i] as { name: string }).name : plan.steps[i]!.kind);
    const skips = plan.steps.flatMap((s) => (s.kind === 'add' ? [`${s.name} ← ${name(s.skip)}`] : []));
    expect(skips.slice(0, 3)).toEqual(['block_2_add ← block_1_project_BN', 'block_4_add ← block_3_project_BN', 'block_5_add ← block_4_add']);
    const floats = (slots: typeof plan.params) => slots.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
    expect(floats(plan.params) + floats(plan.state)).toBe(model.countParams());
    const { params, state } = await packWeights(plan, model);
    expect(unpackWeights(plan, params, state).size).toBe(model.weights.length);
    model.dispose();
  });

  it('plans the v2 backbone rebuilt at 32 px with the app\'s head, and a residual from the input, not one off the chain', async () => {
    const backbone = await loadBackbone(tf.io.fromMemory(teachableBackboneArtifacts(await teachableFiles())), 32);
    const split = splitBackbone(backbone, backbone.blockEnds.length, { numClasses: 3, dropoutRate: 0, seed: 1 });
    const plan = planMobileNetV1(split.trainable, 3);
    expect(plan.steps.slice(-2).map((s) => s.kind)).toEqual(['pool', 'dense']);
    for (const step of plan.steps) {
      if (step.kind !== 'conv' && step.kind !== 'depthwise') continue;
      const shape = split.trainable.getLayer(step.name).outputShape as number[];
      expect([step.outH, step.outW], step.name).toEqual([shape[1], shape[2]]);
    }
    expect(plan.steps.filter((s) => s.kind === 'add')).toHaveLength(10);
    expect(unpackWeights(plan, ...Object.values(await packWeights(plan, split.trainable)) as [Float32Array, Float32Array]).size).toBe(split.trainable.weights.length);

    // A skip from the input (the last blocks on cached features, cut at an add) is planned; an add of two earlier
    // outputs, off the chain, is left to tfjs.
    const input = tf.input({ shape: [8, 8, 4] });
    const conv = () => tf.layers.conv2d({ filters: 4, kernelSize: 1, useBias: false });
    const first = conv().apply(input) as tf.SymbolicTensor;
    const fromInput = planMobileNetV1(tf.model({ inputs: input, outputs: tf.layers.add().apply([input, first]) as tf.SymbolicTensor }), 3);
    expect(fromInput.steps[1]).toMatchObject({ kind: 'add', skip: -1 });
    const offChain = tf.layers.add().apply([input, first]) as tf.SymbolicTensor;
    const second = conv().apply(first) as tf.SymbolicTensor;
    expect(() => planMobileNetV1(tf.model({ inputs: input, outputs: [second, offChain] }), 3)).toThrow(UnsupportedModelError);
    // Two branches from the input: the second convolution does not read the step before it.
    const branches = tf.layers.add().apply([conv().apply(input) as tf.SymbolicTensor, conv().apply(input) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    expect(() => planMobileNetV1(tf.model({ inputs: input, outputs: branches }), 3)).toThrow(/reads an output other than the one before it/);
    split.trainable.dispose();
  });
});
