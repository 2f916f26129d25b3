// How long a training config should take on a backend, from the throughput `npm run bench:train` measured on
// the project's 2-core machine (README). An estimate for that kind of machine: a real GPU is much faster than
// the SwiftShader figures used for WebGL/WebGPU here. Pure TS, any thread.
import { backboneAt } from './backbones.ts';
import type { BackendName } from './run-protocol.ts';
import type { TrainConfig } from './train-config.ts';

/**
 * Steady-epoch training samples/s at 32 px, batch 64 (README's bench:train table). On WASM, and on the plain CPU
 * backend, runs train on the engine's WebAssembly path; the WebGL and WebGPU figures are tfjs's, on SwiftShader.
 */
const MEASURED: Record<'wasm' | 'webgl' | 'webgpu', { head: number; last2: number; last10: number; whole: number }> = {
  wasm: { head: 212_778, last2: 19_442, last10: 5_204, whole: 3_033 },
  webgl: { head: 2_331, last2: 327, last10: 67, whole: 26 },
  webgpu: { head: 243, last2: 56, last10: 17, whole: 11 },
};
/** tfjs's own whole-network training rate at 32 px on WASM: the frozen part's caching pass still runs on tfjs. */
const TFJS_WASM_WHOLE = 186;
/** The plain CPU backend was not benchmarked; backend.ts keeps it behind WASM, which runs tfjs's convolutions several
 * times faster (the engine's steps are the same on both). */
const CPU_SLOWDOWN = 4;
/**
 * Time per drawing grows with input pixels to this power: for the engine, fitted so that its 3,033 samples/s at
 * 32 px becomes the 1,248 measured at 48 px by the quality run (augmented); for tfjs, 186 becoming 68 there.
 */
const PIXEL_EXPONENT = { engine: Math.log(3_033 / 1_248) / Math.log(48 / 32), tfjs: Math.log(186 / 68) / Math.log(48 / 32) };
/** A forward pass alone (caching frozen features, validation, test) is assumed ~3× a training step's rate. */
const FORWARD_SPEEDUP = 3;
/** 'whole' trains MobileNet v1's 13 blocks and its stem: placed after block 13 on the interpolation line. */
const WHOLE_AS_BLOCKS = 14;
/** Reading the drawings and loading the pretrained model before the first batch: a few seconds, not benchmarked. */
const STARTUP_SECONDS = 5;

export interface TrainEstimate {
  seconds: number;
  trainDrawings: number;
  /** Training samples/s assumed for this mode, input size and backend. */
  samplesPerSec: number;
}

/**
 * Seconds to train `config` on `backend`, given how many drawings are stored for each of its classes (in config
 * order; undefined where not known, taken as the config's maxPerCategory). Counts the training epochs, the
 * pass caching frozen features (head and last-blocks modes), and the validation and test passes.
 */
export function estimateTrainSeconds(config: TrainConfig, backend: BackendName, drawingsPerClass: readonly (number | undefined)[]): TrainEstimate {
  const { maxPerCategory } = config.dataset;
  const read = config.dataset.categories.reduce((sum, _, i) => sum + Math.min(maxPerCategory, drawingsPerClass[i] ?? maxPerCategory), 0);
  const testFraction = config.dataset.testDatasetId === undefined ? config.split.testFraction : 0;
  const trainFraction = Math.max(0, 1 - config.split.validationFraction - testFraction);
  const trainDrawings = Math.round(read * trainFraction);
  const validationDrawings = read * config.split.validationFraction;

  const onEngine = backend === 'wasm' || backend === 'cpu';
  const rates = onEngine ? MEASURED.wasm : MEASURED[backend];
  // A wider backbone costs its multiply-adds' ratio to α=0.25's (backbones.ts); a custom one is taken as α=0.25.
  const cost = backboneAt(config.model.url)?.cost ?? 1;
  const pixels = (exponent: number) => (32 / config.inputSizePx) ** exponent / cost;
  const scale = pixels(onEngine ? PIXEL_EXPONENT.engine : PIXEL_EXPONENT.tfjs);
  const secondsPerSample = config.mode === 'head' ? 1 / rates.head : blocksSecondsPerSample(rates, config.mode === 'whole' ? WHOLE_AS_BLOCKS : config.trainableBlocks);
  const samplesPerSec = scale / secondsPerSample;

  let seconds = STARTUP_SECONDS + (trainDrawings * config.epochs) / samplesPerSec;
  if (config.mode === 'whole') {
    // Validation and the test split: forward passes on the path that trains.
    seconds += (validationDrawings * config.epochs + read * testFraction) / (FORWARD_SPEEDUP * rates.whole * scale);
  } else {
    // Cached modes run the frozen layers once over every drawing, on tfjs; their validation then reads cached features.
    const tfjsWhole = onEngine ? TFJS_WASM_WHOLE / (backend === 'cpu' ? CPU_SLOWDOWN : 1) : rates.whole;
    seconds += read / (FORWARD_SPEEDUP * tfjsWhole * pixels(PIXEL_EXPONENT.tfjs));
  }
  return { seconds, trainDrawings, samplesPerSec };
}

/** Time per sample for `blocks` trained blocks, linear between the measured points (0 = head, 2, 10, whole). */
function blocksSecondsPerSample(rates: (typeof MEASURED)['wasm'], blocks: number): number {
  const points: [number, number][] = [[0, 1 / rates.head], [2, 1 / rates.last2], [10, 1 / rates.last10], [WHOLE_AS_BLOCKS, 1 / rates.whole]];
  const b = Math.min(Math.max(blocks, 0), WHOLE_AS_BLOCKS);
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1]!, [x1, y1] = points[i]!;
    if (b <= x1) return y0 + ((b - x0) / (x1 - x0)) * (y1 - y0);
  }
  return 1 / rates.whole;
}
