// The real Teachable Machine export in ../shared (MobileNet v2 α=0.35 + a 10-class head) as tfjs artifacts: the
// whole export, and its v2 backbone ('model4', Google's MobileNetV2 α=0.35 no-top weights, which Teachable Machine
// keeps frozen) alone as a functional model, which loadBackbone can rebuild at any input size. `npm run assets`
// serves that backbone offline; unit and browser tests load both. Pure TS; each runtime reads the two files its own way.
import type * as tf from '@tensorflow/tfjs';

export const TM_FOLDER = 'models/teachable-machine-mobilenet_v2_0.35_224';

export interface TeachableMachineFiles {
  /** model.json, parsed. */
  model: tf.io.ModelJSON;
  /** weights.bin. */
  weights: ArrayBuffer;
}

/** The export as tf.loadLayersModel reads it. */
export function teachableArtifacts({ model, weights }: TeachableMachineFiles): tf.io.ModelArtifacts {
  return { modelTopology: model.modelTopology, weightSpecs: model.weightsManifest.flatMap((group) => group.weights), weightData: weights };
}

interface KerasLayer {
  class_name: string;
  config: { name: string; layers?: KerasLayer[] } & Record<string, unknown>;
}

/**
 * The backbone alone: the first functional model nested in the export, with the weights its layers own (every
 * weight is float32 here, and weight names start with their layer's name).
 */
export function teachableBackboneArtifacts(files: TeachableMachineFiles): tf.io.ModelArtifacts {
  // model.json's topology is Keras JSON: a Sequential of Sequentials, the first holding the functional 'model4'.
  const find = (layer: KerasLayer): KerasLayer | undefined => (layer.class_name === 'Model' || layer.class_name === 'Functional'
    ? layer
    : (layer.config.layers ?? []).map(find).find((found) => found !== undefined));
  const topology = files.model.modelTopology as { model_config?: KerasLayer } & KerasLayer;
  const backbone = find(topology.model_config ?? topology);
  if (backbone === undefined) throw new Error('The export holds no functional backbone.');
  const names = new Set((backbone.config.layers ?? []).map((layer) => layer.config.name));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const spec of teachableArtifacts(files).weightSpecs!) {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
    if (names.has(spec.name.split('/')[0]!)) {
      specs.push(spec);
      parts.push(new Uint8Array(files.weights, offset, bytes));
    }
    offset += bytes;
  }
  const weightData = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((at, part) => (weightData.set(part, at), at + part.length), 0);
  return { modelTopology: { class_name: backbone.class_name, config: backbone.config }, weightSpecs: specs, weightData: weightData.buffer };
}
