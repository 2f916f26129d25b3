// Guesses through the engine: a trained model (image → probabilities) planned for prediction, its weights on the
// device, and one drawing at a time preprocessed and classified in one command buffer (a dispatch a layer) with one
// readback. Used by the inference worker where WebGPU runs on a real GPU; owns its own GPU device.
import type * as tf from '@tensorflow/tfjs';
import { GpuContext } from './gpu.ts';
import { packWeights, planMobileNetV1, UnsupportedModelError } from './plan.ts';
import { EngineTrainer } from './step.ts';

export interface EngineClassifier {
  /** Class probabilities of one 28×28 bitmap as classifyBitmap hands it (white on black, or inverted for ink-on-white models). */
  predict(bitmap: Uint8Array): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The engine for `model` (a trained run's MobileNet v1, or an imported Teachable Machine MobileNet v2 with its
 * head), or null where it does not cover the model or has no WebGPU.
 */
export async function engineClassifier(model: tf.LayersModel): Promise<EngineClassifier | null> {
  let plan;
  try {
    plan = planMobileNetV1(model, model.outputs[0]!.shape[1]!, { inference: true });
  } catch (error) {
    if (error instanceof UnsupportedModelError) return null;
    throw error;
  }
  const gpu = await GpuContext.create();
  if (gpu === null) return null;
  // Momentum only matters to training steps, which a classifier never takes.
  const engine = new EngineTrainer(gpu, plan, { batch: 1, momentum: 0 });
  const weights = await packWeights(plan, model);
  engine.setWeights(weights.params, weights.state);
  return {
    predict: (bitmap) => engine.predictBitmaps(bitmap, 1),
    dispose: () => {
      engine.destroy();
      gpu.destroy();
    },
  };
}
