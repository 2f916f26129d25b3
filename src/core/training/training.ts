// The training loop: owns the run's model (run-model.ts), the cached outputs of its frozen part, the optimizer and the
// random stream; trains batch by batch so it can pause, checkpoint mid-epoch, resume exactly and stop.
// Runs in the trainer worker (and in Node tests on the cpu backend). Every tensor is tidied or disposed here.
import * as tf from '@tensorflow/tfjs';
import { augmentBitmaps, averageViews, drawAugmentation, isAugmenting, mirrorBitmaps } from './augment.ts';
import { EngineBridge } from '../engine/bridge.ts';
import type { CpuEngine } from '../engine/wasm/threads.ts';
import type { EvaluationResult } from '../inference/metrics.ts';
import { evaluateWithMistakes } from '../inference/mistakes.ts';
import { FINE_TUNE_BN_MOMENTUM, preprocess, type Backbone, type SplitModel } from './mobilenet.ts';
import { epochOrder, Random } from './random.ts';
import type { CheckpointRecord, EpochMetrics, StoredTensor, TrainProgress } from './run-protocol.ts';
import { copyOut, INFERENCE_BATCH, RunModel } from './run-model.ts';
import { learningRateAt, type TrainConfig } from './train-config.ts';

export interface LabeledBitmaps {
  /** `labels.length` bitmaps of imageSizePx², back to back. */
  bitmaps: Uint8Array;
  labels: Int32Array;
}

export interface TrainingData {
  classNames: string[];
  imageSizePx: number;
  train: LabeledBitmaps;
  validation: LabeledBitmaps;
  test: LabeledBitmaps;
}

export type Checkpoint = Omit<CheckpointRecord, 'runId' | 'savedAt'>;

/** A split, or the mirror images of a scored one (predicted for test-time augmentation). */
type Part = 'train' | 'validation' | 'test' | 'validation-mirrored' | 'test-mirrored';

export interface TrainHooks {
  onProgress(progress: TrainProgress): void;
  /** Called at epoch ends and every `checkpointEverySec` within an epoch. */
  saveCheckpoint(checkpoint: Checkpoint): Promise<void>;
  /** Awaited between batches: resolves at once, after a pause ends, or with 'stop' to end the run. */
  betweenBatches(): Promise<'go' | 'stop'>;
  checkpointEverySec: number;
}

/** How long the engine's loss and accuracy may stay unread on the GPU while training (see `takeTally`). */
const METRICS_EVERY_MS = 500;

/** Loss summed over drawings, correct guesses and drawings, over one or more training steps. */
type Tally = { lossSum: number; correct: number; samples: number };

export class Trainer {
  /** The network being trained, with its weights: what checkpoints store and what the engine starts from. */
  readonly model: RunModel;
  private features: Map<Part, Float32Array> | null = null;
  /** The splits, and under test-time 'flip' the mirror images of validation and test. */
  private readonly parts: Map<Part, LabeledBitmaps>;
  private readonly featureShape: number[];
  private readonly optimizer: tf.AdamOptimizer;
  /** Set by `useEngine`: training steps and predictions then run through the engine, everything else on tfjs. */
  private engine: EngineBridge | null = null;
  /** The tfjs path's last step's tally, until `takeTally`. */
  private unread: Tally | null = null;
  /** When the engine's metrics were last read back. */
  private lastRead = 0;

  constructor(readonly config: TrainConfig, backbone: Backbone, readonly data: TrainingData) {
    this.model = new RunModel(config, backbone, data.classNames.length);
    this.featureShape = this.split.trainable.inputs[0]!.shape.slice(1) as number[];
    this.optimizer = tf.train.adam(config.learningRate);
    this.split.trainable.compile({ optimizer: this.optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    this.parts = new Map<Part, LabeledBitmaps>([['train', data.train], ['validation', data.validation], ['test', data.test]]);
    if (config.testTimeAugmentation === 'flip') {
      for (const name of ['validation', 'test'] as const) {
        this.parts.set(`${name}-mirrored`, { bitmaps: mirrorBitmaps(data[name].bitmaps, data.imageSizePx), labels: data[name].labels });
      }
    }
  }

  get split(): SplitModel {
    return this.model.split;
  }

  get backbone(): Backbone {
    return this.model.backbone;
  }

  /** Whether training inputs are cached outputs of a frozen part (so augmentation cannot be applied). */
  get usesCache(): boolean {
    return this.split.frozen !== null;
  }

  /**
   * Runs the frozen part once over every split. `betweenBatches` is awaited before each batch, as in `train`, so a
   * long caching pass can pause and stop: 'stopped' leaves nothing cached (a resumed run caches again).
   */
  async cacheFeatures(onProgress: (done: number, total: number) => void, betweenBatches: () => Promise<'go' | 'stop'> = async () => 'go'): Promise<'finished' | 'stopped'> {
    const frozen = this.split.frozen;
    if (frozen === null || this.features !== null) return 'finished';
    const total = [...this.parts.values()].reduce((sum, part) => sum + part.labels.length, 0);
    const features = new Map<Part, Float32Array>();
    let done = 0;
    for (const [name, part] of this.parts) {
      const out = await this.mapBatches(part.bitmaps, (input) => frozen.predict(input) as tf.Tensor, betweenBatches, (count) => {
        done += count;
        onProgress(done, total);
      });
      if (out === null) return 'stopped';
      features.set(name, out);
    }
    this.features = features;
    return 'finished';
  }

  /**
   * Moves training steps (and the predictions of validation and evaluation) onto the engine where it covers the
   * run: a model the engine plans (the whole network, the last blocks or the head, the latter two on cached
   * features), on tfjs's WebGPU backend (the engine's WebGPU path), or on its WASM or CPU backend when `cpu`,
   * the engine's compiled WebAssembly (with threads where they run), is given. Call after `loadWeights` and `cacheFeatures` (the engine starts
   * from the model's weights and the checkpoint's Adam state). Returns which path trains and why, for the page.
   */
  async useEngine(checkpoint?: Pick<Checkpoint, 'optimizer'>, cpu?: CpuEngine): Promise<string> {
    const options = { batch: this.config.batchSize, momentum: FINE_TUNE_BN_MOMENTUM, imageSizePx: this.data.imageSizePx, seed: this.config.seed, labelSmoothing: this.config.labelSmoothing ?? 0 };
    const choice = await EngineBridge.create(this.split.trainable, options, checkpoint?.optimizer, cpu);
    this.engine?.destroy();
    this.engine = choice.engine;
    return choice.engine === null ? `tfjs (${choice.reason})` : choice.reason;
  }

  /** Trains from `checkpoint` (or the start) to the configured number of epochs; 'stopped' if told to stop. */
  async train(hooks: TrainHooks, checkpoint?: Checkpoint): Promise<'finished' | 'stopped'> {
    const { config } = this;
    const trainCount = this.data.train.labels.length;
    const batches = Math.ceil(trainCount / config.batchSize);
    let epoch = checkpoint?.epoch ?? 0;
    let batch = checkpoint?.batch ?? 0;
    const random = new Random(checkpoint?.randomState ?? config.seed);
    const partial = checkpoint?.partial ?? { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    let lastSave = performance.now();
    // saveWeights brings the engine's weights back into the model first, so checkpoints are the same on both paths.
    const snapshot = async (atEpoch: number, atBatch: number): Promise<Checkpoint> => ({ epoch: atEpoch, batch: atBatch, randomState: random.state, partial: { ...partial }, ...(await this.saveWeights()) });
    const account = (tally: Tally) => {
      partial.lossSum += tally.lossSum;
      partial.correct += tally.correct;
      partial.seen += tally.samples;
    };
    for (; epoch < config.epochs; epoch++, batch = 0) {
      const order = epochOrder(trainCount, config.seed, epoch);
      let started = performance.now();
      for (; batch < batches; batch++) {
        if ((await hooks.betweenBatches()) === 'stop') {
          const unread = await this.takeTally(true);
          if (unread !== null) account(unread);
          partial.seconds += (performance.now() - started) / 1000;
          await hooks.saveCheckpoint(await snapshot(epoch, batch));
          return 'stopped';
        }
        const indices = order.subarray(batch * config.batchSize, Math.min(trainCount, (batch + 1) * config.batchSize));
        this.setLearningRate(learningRateAt(config, epoch * batches + batch, config.epochs * batches));
        await this.trainBatch(indices, random);
        const last = batch + 1 === batches;
        const checkpointDue = !last && (performance.now() - lastSave) / 1000 >= hooks.checkpointEverySec;
        // The engine's loss and accuracy stay on the GPU until a checkpoint or the epoch's end needs them, or the
        // page has gone METRICS_EVERY_MS without news: the progress event then covers the batches since.
        const tally = await this.takeTally(last || checkpointDue);
        if (tally !== null) {
          account(tally);
          const seconds = partial.seconds + (performance.now() - started) / 1000;
          const samplesPerSec = partial.seen / seconds;
          const remaining = (config.epochs - epoch - 1) * trainCount + (trainCount - partial.seen);
          hooks.onProgress({ kind: 'batch', epoch: epoch + 1, epochs: config.epochs, batch: batch + 1, batches, loss: tally.lossSum / tally.samples, accuracy: tally.correct / tally.samples, samplesPerSec, etaSec: remaining / samplesPerSec });
        }
        if (checkpointDue) {
          partial.seconds += (performance.now() - started) / 1000;
          started = performance.now();
          await hooks.saveCheckpoint(await snapshot(epoch, batch + 1));
          hooks.onProgress({ kind: 'checkpoint', epoch, batch: batch + 1 });
          lastSave = performance.now();
        }
      }
      const seconds = partial.seconds + (performance.now() - started) / 1000;
      const validation = this.data.validation.labels.length > 0 ? await this.lossAndAccuracy('validation') : null;
      const metrics: EpochMetrics = {
        epoch: epoch + 1, loss: partial.lossSum / partial.seen, accuracy: partial.correct / partial.seen,
        valLoss: validation?.loss ?? null, valAccuracy: validation?.accuracy ?? null, samplesPerSec: partial.seen / seconds, seconds,
      };
      Object.assign(partial, { lossSum: 0, correct: 0, seen: 0, seconds: 0 });
      // The epoch's metrics go out (and into the run record) before the checkpoint that counts it done.
      hooks.onProgress({ kind: 'epoch', metrics });
      await hooks.saveCheckpoint(await snapshot(epoch + 1, 0));
      lastSave = performance.now();
    }
    return 'finished';
  }

  /** Adam reads its rate on every step; tfjs has no scheduler and keeps the field protected. */
  private setLearningRate(rate: number): void {
    (this.optimizer as unknown as { learningRate: number }).learningRate = rate;
  }

  /** Whether training steps and predictions run on the engine (see `useEngine`). */
  get onEngine(): boolean {
    return this.engine !== null;
  }

  /** Threads the engine's CPU path runs on (1 on WebGPU, on one thread, or off the engine). */
  get engineThreads(): number {
    return this.engine?.threads ?? 1;
  }

  /** The rate of the latest training step (the configured rate before the first). */
  get learningRate(): number {
    return (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  /** One training step. On tfjs it runs to its end and its tally waits for `takeTally`; the engine's is submitted. */
  private async trainBatch(indices: Uint32Array, random: Random): Promise<void> {
    if (this.engine !== null) {
      const labels = Uint32Array.from(indices, (i) => this.data.train.labels[i]!);
      const cached = this.cachedRows('train', indices);
      if (cached !== null) return this.engine.stepFeatures(cached, labels, this.learningRate);
      // The engine augments (on the GPU, or in JS before its WebAssembly preprocessing), with transforms drawn here
      // from the run's stream as augmentBitmaps draws them.
      const draws = isAugmenting(this.config.augmentation) ? Array.from(indices, () => drawAugmentation(this.config.augmentation, random)) : undefined;
      return this.engine.stepBitmaps(this.batchBitmaps('train', indices, null), labels, this.learningRate, draws);
    }
    const { x, y } = this.batchTensors('train', indices, random);
    try {
      const result = await this.split.trainable.trainOnBatch(x, y);
      const [loss, accuracy] = Array.isArray(result) ? result : [result, Number.NaN];
      const samples = indices.length;
      this.unread = { lossSum: loss! * samples, correct: accuracy! * samples, samples };
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  /**
   * Loss and accuracy of the steps since the last tally: on tfjs and on the engine's WebAssembly path the last
   * step's; on its WebGPU path a readback (the only wait on the GPU in training) when `now` or METRICS_EVERY_MS
   * after the last one, else null.
   */
  private async takeTally(now: boolean): Promise<Tally | null> {
    if (this.engine === null) {
      const tally = this.unread;
      this.unread = null;
      return tally;
    }
    if (!now && !this.engine.metricsAreFree && performance.now() - this.lastRead < METRICS_EVERY_MS) return null;
    this.lastRead = performance.now();
    const tally = await this.engine.readMetrics();
    return tally.samples > 0 ? tally : null;
  }

  /** The cached features of `indices` back to back, or null when the run trains on images. */
  private cachedRows(name: Part, indices: ArrayLike<number>): Float32Array | null {
    const cached = this.features?.get(name);
    if (cached === undefined) return null;
    const size = this.featureShape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(indices.length * size);
    for (let n = 0; n < indices.length; n++) values.set(cached.subarray(indices[n]! * size, (indices[n]! + 1) * size), n * size);
    return values;
  }

  private batchTensors(name: Part, indices: ArrayLike<number>, random: Random | null): { x: tf.Tensor; y: tf.Tensor } {
    const source = this.parts.get(name)!;
    const labels = Int32Array.from(indices, (i) => source.labels[i]!);
    // Training targets take the config's label smoothing (random is given only for training batches).
    const smoothing = random === null ? 0 : this.config.labelSmoothing ?? 0;
    const classes = this.data.classNames.length;
    const y = tf.tidy(() => {
      const hot = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
      return smoothing > 0 ? hot.mul(1 - smoothing).add(smoothing / classes) : hot;
    });
    const cached = this.cachedRows(name, indices);
    if (cached !== null) return { x: tf.tensor(cached, [indices.length, ...this.featureShape]), y };
    return { x: preprocess(this.batchBitmaps(name, indices, random), this.data.imageSizePx, this.config.inputSizePx), y };
  }

  /** The stored bitmaps of `indices`, augmented when `random` is given and the config augments. */
  private batchBitmaps(name: Part, indices: ArrayLike<number>, random: Random | null): Uint8Array {
    const source = this.parts.get(name)!;
    const pixels = this.data.imageSizePx ** 2;
    let bitmaps = new Uint8Array(indices.length * pixels);
    for (let n = 0; n < indices.length; n++) bitmaps.set(source.bitmaps.subarray(indices[n]! * pixels, (indices[n]! + 1) * pixels), n * pixels);
    if (random !== null && isAugmenting(this.config.augmentation)) bitmaps = augmentBitmaps(bitmaps, this.data.imageSizePx, this.config.augmentation, random);
    return bitmaps;
  }

  private async lossAndAccuracy(name: 'validation' | 'test'): Promise<{ loss: number; accuracy: number }> {
    const probabilities = await this.predictSplit(name);
    const labels = this.data[name].labels;
    const classes = this.data.classNames.length;
    let loss = 0, correct = 0;
    for (let n = 0; n < labels.length; n++) {
      const scores = probabilities.subarray(n * classes, (n + 1) * classes);
      loss -= Math.log(Math.max(scores[labels[n]!]!, 1e-7));
      let best = 0;
      for (let c = 1; c < classes; c++) if (scores[c]! > scores[best]!) best = c;
      if (best === labels[n]) correct++;
    }
    return { loss: loss / labels.length, accuracy: correct / labels.length };
  }

  /**
   * Class probabilities for every drawing of a split, back to back (through the engine when it trains); for
   * validation and test under test-time 'flip', averaged with their mirror images'.
   */
  async predictSplit(name: 'train' | 'validation' | 'test'): Promise<Float32Array> {
    const plain = await this.predictPart(name);
    if (name === 'train' || !this.parts.has(`${name}-mirrored`)) return plain;
    return averageViews([plain, await this.predictPart(`${name}-mirrored`)]);
  }

  private async predictPart(name: Part): Promise<Float32Array> {
    const count = this.parts.get(name)!.labels.length;
    const all = Uint32Array.from({ length: count }, (_, i) => i);
    const classes = this.data.classNames.length;
    const out = new Float32Array(count * classes);
    if (this.engine !== null) {
      // The engine's buffers are sized for a training batch.
      for (let start = 0; start < count; start += this.config.batchSize) {
        const indices = all.subarray(start, start + this.config.batchSize);
        const cached = this.cachedRows(name, indices);
        out.set(cached === null ? await this.engine.predictBitmaps(this.batchBitmaps(name, indices, null)) : await this.engine.predictFeatures(cached, indices.length), start * classes);
      }
      return out;
    }
    for (let start = 0; start < count; start += INFERENCE_BATCH) {
      const { x, y } = this.batchTensors(name, all.subarray(start, start + INFERENCE_BATCH), null);
      y.dispose();
      const probabilities = this.split.trainable.predict(x) as tf.Tensor;
      x.dispose();
      out.set(await probabilities.data(), start * classes);
      probabilities.dispose();
    }
    return out;
  }

  async evaluateSplit(name: 'validation' | 'test'): Promise<EvaluationResult> {
    const split = this.data[name];
    return evaluateWithMistakes(await this.predictSplit(name), split.labels, this.data.classNames, split.bitmaps, this.data.imageSizePx ** 2);
  }

  async saveWeights(): Promise<{ weights: StoredTensor[]; optimizer: StoredTensor[] }> {
    if (this.engine !== null) {
      await this.engine.syncToModel();
      return { weights: await this.model.readWeights(), optimizer: await this.engine.adamWeights() };
    }
    const weights = await this.model.readWeights();
    const named = await this.optimizer.getWeights();
    const optimizer = await Promise.all(named.map(async ({ name, tensor }) => ({ name, shape: tensor.shape, data: copyOut(await tensor.data()) })));
    // The first entry (the step count) is a scalar made for this call; the rest are the optimizer's own variables.
    named[0]?.tensor.dispose();
    return { weights, optimizer };
  }

  /** Restores weights and optimizer state saved by `saveWeights` on a model built from the same config. */
  async loadWeights(checkpoint: Pick<Checkpoint, 'weights' | 'optimizer'>): Promise<void> {
    this.model.setWeights(checkpoint.weights);
    if (checkpoint.optimizer.length > 0) {
      // setWeights keeps the tensors it is given as the optimizer's variables' values; it disposes nothing of ours.
      const named = checkpoint.optimizer.map((w) => ({ name: w.name, tensor: tf.tensor(new Float32Array(w.data), w.shape) }));
      await this.optimizer.setWeights(named);
      tf.dispose(named.map((n) => n.tensor));
    }
  }

  /** Applies `run` to INFERENCE_BATCH-sized batches of preprocessed bitmaps and gathers its outputs; null if told to stop. */
  private async mapBatches(bitmaps: Uint8Array, run: (input: tf.Tensor4D) => tf.Tensor, betweenBatches: () => Promise<'go' | 'stop'>, onBatch: (count: number) => void): Promise<Float32Array | null> {
    const pixels = this.data.imageSizePx ** 2;
    const count = bitmaps.length / pixels;
    const size = this.featureShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(count * size);
    for (let start = 0; start < count; start += INFERENCE_BATCH) {
      if ((await betweenBatches()) === 'stop') return null;
      const end = Math.min(count, start + INFERENCE_BATCH);
      const result = tf.tidy(() => run(preprocess(bitmaps.subarray(start * pixels, end * pixels), this.data.imageSizePx, this.config.inputSizePx)));
      out.set(await result.data(), start * size);
      result.dispose();
      onBatch(end - start);
    }
    return out;
  }

  /** Frees every variable: the backbone's, the head's and the optimizer's. The backbone is unusable after. */
  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
    this.engine?.destroy();
  }
}
