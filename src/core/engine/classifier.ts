// Guesses through the engine: a trained model (image → probabilities) planned for prediction, its weights loaded
// once, and one drawing at a time preprocessed and classified: on WebGPU in one command buffer (a dispatch a layer)
// with one readback, where it runs on a real GPU (with a device of its own); else on the engine's WebAssembly
// kernels, given its compiled module. Used by the inference worker.
import type * as tf from '@tensorflow/tfjs';
import { GpuContext } from './gpu.ts';
import { packWeights, planMobileNetV1, UnsupportedModelError, type EnginePlan } from './plan.ts';
import { EngineTrainer } from './step.ts';
import { WasmEngineTrainer } from './wasm/trainer.ts';

export interface EngineClassifier {
  /** Class probabilities of one 28×28 bitmap as classifyBitmap hands it (white on black, or inverted for ink-on-white models). */
  predict(bitmap: Uint8Array): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The engine for `model` (a trained run's MobileNet v1 or v2, or an imported Teachable Machine MobileNet v2 with its
 * head): on WebGPU, or on WebAssembly when `cpuModule` is given; null where it does not cover the model or there is
 * no WebGPU.
 */
export async function engineClassifier(model: tf.LayersModel, cpuModule?: WebAssembly.Module): Promise<EngineClassifier | null> {
  let plan: EnginePlan;
  let engine: EngineTrainer | WasmEngineTrainer;
  let release = () => {};
  try {
    plan = planMobileNetV1(model, model.outputs[0]!.shape[1]!, { inference: true });
    // Momentum only matters to training steps, which a classifier never takes.
    const options = { batch: 1, momentum: 0 };
    if (cpuModule !== undefined) {
      engine = await WasmEngineTrainer.create(cpuModule, plan, options);
    } else {
      const gpu = await GpuContext.create();
      if (gpu === null) return null;
      engine = new EngineTrainer(gpu, plan, options);
      release = () => gpu.destroy();
    }
  } catch (error) {
    if (error instanceof UnsupportedModelError) return null;
    throw error;
  }
  const weights = await packWeights(plan, model);
  engine.setWeights(weights.params, weights.state);
  return {
    predict: (bitmap) => engine.predictBitmaps(bitmap, 1),
    dispose: () => {
      engine.destroy();
      release();
    },
  };
}
