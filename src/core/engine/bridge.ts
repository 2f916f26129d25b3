// Lets the Trainer (training.ts) run its training steps and predictions through the engine while everything else
// stays on tfjs: weights start from and return to the trainable LayersModel (so checkpoints, export and the rest
// are unchanged), and Adam's state converts to and from tfjs's optimizer format, so a checkpoint written on one path
// resumes on the other. The engine runs on WebGPU (step.ts, a device of its own) where tfjs runs on WebGPU, and on
// WebAssembly (wasm/trainer.ts) where tfjs runs on its WASM or CPU backend and the caller has the engine's module.
// Runs in the trainer worker.
import * as tf from '@tensorflow/tfjs';
import type { AugmentDraw } from '../training/augment.ts';
import type { StoredTensor } from '../training/run-protocol.ts';
import { GpuContext } from './gpu.ts';
import { packWeights, planMobileNetV1, UnsupportedModelError, type EnginePlan } from './plan.ts';
import { EngineTrainer, type EngineStepOptions, type StepMetrics } from './step.ts';
import type { CpuEngine } from './wasm/threads.ts';
import { WasmEngineTrainer } from './wasm/trainer.ts';

export type EngineChoice = { engine: EngineBridge; reason: string } | { engine: null; reason: string };

/** What the bridge drives: the surface EngineTrainer (WebGPU) and WasmEngineTrainer (WebAssembly) share. */
type EngineSteps = Pick<EngineTrainer, 'imageSizePx' | 'setWeights' | 'setAdamState' | 'readWeights' | 'readAdamState' | 'readMetrics' | 'step' | 'stepBitmaps' | 'predict' | 'predictBitmaps' | 'throttle' | 'destroy'>;

export class EngineBridge {
  private constructor(private readonly plan: EnginePlan, private readonly trainer: EngineSteps, private readonly model: tf.LayersModel, private readonly release: () => void) {}

  /** Threads the engine's CPU path splits each kernel among (1 on WebGPU and on one thread). */
  get threads(): number {
    return this.trainer instanceof WasmEngineTrainer ? this.trainer.threads : 1;
  }

  /** Whether reading the metrics costs nothing (on WebAssembly: no GPU to wait for), so every step may report. */
  get metricsAreFree(): boolean {
    return this.trainer instanceof WasmEngineTrainer;
  }

  /**
   * The engine for training `model` (a trainable model from splitBackbone, any mode) with batches of `batch`,
   * starting from its weights and, when resuming, from tfjs-format Adam state; or why the tfjs path trains it.
   * `cpu` (the engine's compiled WebAssembly, with threads where they can run) lets it train where tfjs runs on its
   * WASM or CPU backend.
   */
  static async create(model: tf.LayersModel, options: EngineStepOptions, optimizer: readonly StoredTensor[] = [], cpu?: CpuEngine): Promise<EngineChoice> {
    const backend = tf.getBackend();
    const onGpu = backend === 'webgpu';
    if (!onGpu && (cpu === undefined || (backend !== 'wasm' && backend !== 'cpu'))) {
      return { engine: null, reason: `the engine runs where tfjs runs on WebGPU, WASM or the CPU with the engine's module at hand; this run is on ${backend}` };
    }
    let plan: EnginePlan;
    let trainer: EngineSteps;
    let release = () => {};
    let threads = '';
    try {
      plan = planMobileNetV1(model, model.outputs[0]!.shape[1]!);
      if (onGpu) {
        const gpu = await GpuContext.create();
        if (gpu === null) return { engine: null, reason: 'no WebGPU adapter for the engine' };
        trainer = new EngineTrainer(gpu, plan, options);
        release = () => gpu.destroy();
      } else {
        const wasm = await WasmEngineTrainer.create(cpu!.module, plan, options, cpu!.threaded);
        trainer = wasm;
        threads = wasm.threads > 1 ? `${wasm.threads} threads` : `one thread: ${wasm.threadFailure ?? cpu!.oneThreadReason ?? 'one core'}`;
      }
    } catch (error) {
      if (error instanceof UnsupportedModelError) return { engine: null, reason: `the engine does not cover this model (${error.message})` };
      throw error;
    }
    const bridge = new EngineBridge(plan, trainer, model, release);
    const weights = await packWeights(plan, model);
    trainer.setWeights(weights.params, weights.state);
    if (optimizer.length > 0) bridge.loadAdam(optimizer);
    const layers = plan.steps.filter((step) => step.kind !== 'bn-relu6' && step.kind !== 'bn-linear').length;
    const input = plan.steps[0]?.kind === 'conv' ? '' : ', on cached features';
    const reason = onGpu
      ? `the fused WebGPU engine (${layers} layers${input}): each step runs as a few hundred large GPU dispatches instead of tfjs's thousands of small ones`
      : `the engine's WebAssembly path (${layers} layers${input}, SIMD, ${threads}): each layer runs as one fused kernel call instead of tfjs's op-by-op ${backend === 'wasm' ? 'WASM backend' : 'CPU backend'}`;
    return { engine: bridge, reason };
  }

  /**
   * Submits one step on stored bitmaps (augmented by `draws`, when given, and preprocessed by the engine); resolves
   * once at most a few steps are queued (on WebAssembly, once it is done).
   */
  stepBitmaps(bitmaps: Uint8Array, labels: Uint32Array, learningRate: number, draws?: readonly AugmentDraw[]): Promise<void> {
    this.trainer.stepBitmaps(bitmaps, labels, learningRate, labels.length, draws);
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
    return this.trainer.predictBitmaps(bitmaps, bitmaps.length / this.trainer.imageSizePx ** 2);
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
    this.release();
  }
}
