// Lets the Trainer (training.ts) run its training steps and predictions through the engine while everything else
// stays on tfjs: weights start from and return to the trainable LayersModel (so checkpoints, export and the rest
// are unchanged), and Adam's state converts to and from tfjs's optimizer format, so a checkpoint written on one path
// resumes on the other. Runs in the trainer worker, on tfjs's WebGPU backend; owns its own GPU device.
import * as tf from '@tensorflow/tfjs';
import type { StoredTensor } from '../run-protocol.ts';
import { GpuContext } from './gpu.ts';
import { packWeights, planMobileNetV1, UnsupportedModelError, type EnginePlan } from './plan.ts';
import { EngineTrainer, type EngineStepOptions, type StepMetrics } from './step.ts';

export type EngineChoice = { engine: EngineBridge; reason: string } | { engine: null; reason: string };

export class EngineBridge {
  private constructor(private readonly gpu: GpuContext, private readonly plan: EnginePlan, private readonly trainer: EngineTrainer, private readonly model: tf.LayersModel) {}

  /**
   * The engine for training `model` (a trainable model from splitBackbone, any mode) with batches of `batch`,
   * starting from its weights and, when resuming, from tfjs-format Adam state; or why the tfjs path trains it.
   */
  static async create(model: tf.LayersModel, options: EngineStepOptions, optimizer: readonly StoredTensor[] = []): Promise<EngineChoice> {
    let plan: EnginePlan;
    try {
      plan = planMobileNetV1(model, model.outputs[0]!.shape[1]!);
    } catch (error) {
      if (error instanceof UnsupportedModelError) return { engine: null, reason: `the engine does not cover this model (${error.message})` };
      throw error;
    }
    const gpu = await GpuContext.create();
    if (gpu === null) return { engine: null, reason: 'no WebGPU adapter for the engine' };
    const trainer = new EngineTrainer(gpu, plan, options);
    const bridge = new EngineBridge(gpu, plan, trainer, model);
    const weights = await packWeights(plan, model);
    trainer.setWeights(weights.params, weights.state);
    if (optimizer.length > 0) bridge.loadAdam(optimizer);
    const layers = plan.steps.filter((step) => step.kind !== 'bn-relu6' && step.kind !== 'bn-linear').length;
    const input = plan.steps[0]?.kind === 'conv' ? '' : ', on cached features';
    return { engine: bridge, reason: `the fused WebGPU engine (${layers} layers${input}): each step runs as a few hundred large GPU dispatches instead of tfjs's thousands of small ones` };
  }

  /** Submits one step on stored bitmaps (preprocessed on the device); resolves once at most a few steps are queued. */
  stepBitmaps(bitmaps: Uint8Array, labels: Uint32Array, learningRate: number): Promise<void> {
    this.trainer.stepBitmaps(bitmaps, labels, learningRate, labels.length);
    return this.trainer.throttle();
  }

  /** The same on the cached features of a frozen part. */
  stepFeatures(features: Float32Array, labels: Uint32Array, learningRate: number): Promise<void> {
    this.trainer.step(features, labels, learningRate, labels.length);
    return this.trainer.throttle();
  }

  /** Loss and accuracy summed since the last read (one small readback, the only wait on the GPU in training). */
  readMetrics(): Promise<StepMetrics> {
    return this.trainer.readMetrics();
  }

  /** Class probabilities of stored bitmaps (at most a training batch of them), on the moving statistics. */
  predictBitmaps(bitmaps: Uint8Array): Promise<Float32Array> {
    return this.trainer.predictBitmaps(bitmaps, bitmaps.length / (this.trainer.options.imageSizePx ?? 28) ** 2);
  }

  /** The same on cached features. */
  predictFeatures(features: Float32Array, count: number): Promise<Float32Array> {
    return this.trainer.predict(features, count);
  }

  /** Writes the engine's weights and moving statistics back into the LayersModel (before validation, a checkpoint,
   * export or evaluation). */
  async syncToModel(): Promise<void> {
    const { params, state } = await this.trainer.readWeights();
    const slots = new Map([...this.plan.params.map((s) => [s.name, { s, buffer: params }] as const), ...this.plan.state.map((s) => [s.name, { s, buffer: state }] as const)]);
    const tensors = this.model.weights.map((weight) => {
      const found = slots.get(weight.originalName);
      if (found === undefined) throw new Error(`The engine has no weight ${weight.originalName}.`);
      const size = found.s.shape.reduce((a, b) => a * b, 1);
      return tf.tensor(found.buffer.slice(found.s.offset, found.s.offset + size), found.s.shape);
    });
    this.model.setWeights(tensors);
    tf.dispose(tensors);
  }

  /** Adam's state in tfjs's optimizer format: the update count, then every trainable weight's m, then its v (tfjs
   * matches them to variables by position; the names are for people). */
  async adamWeights(): Promise<StoredTensor[]> {
    const { m, v, steps } = await this.trainer.readAdamState();
    const trainable = this.model.trainableWeights;
    const moment = (buffer: Float32Array, suffix: string) => trainable.map((weight) => {
      const slot = this.slotOf(weight.originalName);
      const size = slot.shape.reduce((a, b) => a * b, 1);
      return { name: `${weight.originalName}/${suffix}`, shape: slot.shape, data: buffer.slice(slot.offset, slot.offset + size).buffer };
    });
    return [{ name: 'iter', shape: [], data: Float32Array.of(steps).buffer }, ...moment(m, 'm'), ...moment(v, 'v')];
  }

  private loadAdam(optimizer: readonly StoredTensor[]): void {
    const [iterations, ...moments] = optimizer;
    const trainable = this.model.trainableWeights;
    if (iterations === undefined || moments.length !== trainable.length * 2) throw new Error('The checkpoint\'s optimizer state does not fit this model.');
    const m = new Float32Array(this.plan.paramCount), v = new Float32Array(this.plan.paramCount);
    trainable.forEach((weight, i) => {
      const slot = this.slotOf(weight.originalName);
      m.set(new Float32Array(moments[i]!.data), slot.offset);
      v.set(new Float32Array(moments[trainable.length + i]!.data), slot.offset);
    });
    this.trainer.setAdamState(m, v, new Float32Array(iterations.data)[0]!);
  }

  private slotOf(name: string): EnginePlan['params'][number] {
    const slot = this.plan.params.find((s) => s.name === name);
    if (slot === undefined) throw new Error(`The engine has no trainable weight ${name}.`);
    return slot;
  }

  destroy(): void {
    this.trainer.destroy();
    this.gpu.destroy();
  }
}
