// A whole run in the browser with real IndexedDB: the record and checkpoint land in the database, and a
// WebGPU device lost mid-run falls back to the next backend and finishes from the last checkpoint, while a full
// disk fails the run with its own message instead, whether it stops a checkpoint or the run record that precedes it.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import '../../workers/wasm-backend.ts';
import { afterEach, expect, test } from 'vitest';
import type { RunRecord, TrainProgress } from '../../src/core/training/run-protocol.ts';
import { executeRun, newRun } from '../../src/core/training/run-session.ts';
import type { RunStore } from '../../src/core/training/runs.ts';
import type { DrawingStore } from '../../src/core/data/store.ts';
import { parseConfig, PRESETS, type TrainConfig } from '../../src/core/training/train-config.ts';
import { BAR_CATEGORIES, barStores } from './helpers.ts';
import { quotaError } from '../../src/core/errors.ts';
import { DB_VERSION } from '../../src/core/data/database.ts';
import { openDB, type IDBPDatabase } from 'idb';

const CATEGORIES = BAR_CATEGORIES;
let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => cleanup?.());

async function stores(): Promise<{ name: string; drawings: DrawingStore; runs: RunStore }> {
  const { name, drawings, runs, close } = await barStores('doodle-lab-run', { seed: 3, perCategory: 30, spacing: 9, maxShift: 3 });
  cleanup = close;
  return { name, drawings, runs };
}

/** Trains a new run of the tiny preset on the bars (3 epochs, batch 16, a checkpoint only at each epoch's end). */
function trainBars(backend: TrainConfig['backend'], drawings: DrawingStore, runs: RunStore, onProgress: (p: TrainProgress) => void = () => {}): Promise<RunRecord> {
  const config = parseConfig({
    ...PRESETS['tiny'], backend, epochs: 3, batchSize: 16,
    dataset: { datasetId: 'quickdraw', categories: CATEGORIES, maxPerCategory: 30 },
  });
  return executeRun(newRun(config), {
    drawings, runs, modelHandler: (url) => tf.io.http(`/${url}`), checkpointEverySec: 1e9, betweenBatches: async () => 'go', onProgress,
  });
}

test('a lost WebGPU device falls back to WebGL and the run finishes from its checkpoint', async () => {
  const { drawings, runs } = await stores();
  // The engine (which trains this run on WebGPU) has a device of its own; a GPU process crash loses both.
  const devices: GPUDevice[] = [];
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args: Parameters<typeof requestDevice>) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
  const events: TrainProgress[] = [];
  let destroyed = false;
  const run = await trainBars('webgpu', drawings, runs, (p) => {
    events.push(p);
    // The first batch of epoch 2: epoch 1 and its checkpoint are stored.
    if (p.kind === 'batch' && p.epoch === 2 && !destroyed) {
      destroyed = true;
      // What a driver reset or a GPU process crash does to the page's devices.
      (tf.backend() as unknown as { device: GPUDevice }).device.destroy();
      for (const device of devices) device.destroy();
    }
  });
  GPUAdapter.prototype.requestDevice = requestDevice;
  expect(devices.length, 'the run trained on the engine').toBeGreaterThan(0);
  expect(destroyed).toBe(true);
  expect(run.error).toBeNull();
  expect(run.status).toBe('done');
  expect(run.backend?.name).toBe('webgl');
  expect(run.backend?.reason).toMatch(/webgpu failed during training/);
  expect(run.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
  const started = events.filter((e) => e.kind === 'started');
  expect(started.at(-1)).toMatchObject({ kind: 'started', resumedFrom: { epoch: 1, batch: 0 } });
  const stored = await runs.getRun(run.runId);
  expect(stored?.status).toBe('done');
  expect(stored?.test?.count).toBe(run.counts.test);
  expect((await runs.getCheckpoint(run.runId))?.epoch).toBe(3);
});

test('every checkpoint lands after the run record that holds its epochs, so a reload never loses an epoch', async () => {
  const { drawings, runs } = await stores();
  const seen: { checkpointEpoch: number; storedEpochs: number }[] = [];
  // A slow disk for run records: without the ordering, the checkpoint for epoch N would land first.
  const slowRuns = Object.assign(Object.create(runs) as RunStore, {
    putRun: async (record: Parameters<RunStore['putRun']>[0]) => {
      const copy = structuredClone(record);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return runs.putRun(copy);
    },
    putCheckpoint: async (checkpoint: Parameters<RunStore['putCheckpoint']>[0]) => {
      seen.push({ checkpointEpoch: checkpoint.epoch, storedEpochs: (await runs.getRun(checkpoint.runId))?.epochs.length ?? 0 });
      return runs.putCheckpoint(checkpoint);
    },
  });
  const run = await trainBars('cpu', drawings, slowRuns);
  expect(run.status).toBe('done');
  expect(seen.map((s) => s.checkpointEpoch)).toEqual([1, 2, 3]);
  for (const { checkpointEpoch, storedEpochs } of seen) expect(storedEpochs).toBeGreaterThanOrEqual(checkpointEpoch);
});

test('a full disk at a checkpoint fails the run with the message that says what to free, without trying other backends', async () => {
  const { drawings, runs } = await stores();
  // The disk fills up after the first checkpoint: a storage failure, not the backend's.
  let checkpoints = 0;
  const fullRuns = Object.assign(Object.create(runs) as RunStore, {
    putCheckpoint: async (checkpoint: Parameters<RunStore['putCheckpoint']>[0]) => {
      if (++checkpoints > 1) throw quotaError('the checkpoint');
      return runs.putCheckpoint(checkpoint);
    },
  });
  const events: TrainProgress[] = [];
  // WASM: a failure there used to move the run on to the CPU backend (the last one, which rethrows).
  const run = await trainBars('wasm', drawings, fullRuns, (p) => events.push(p));
  expect(run.status).toBe('failed');
  expect(run.error).toMatch(/storage is full .*Delete a dataset/);
  expect(events.filter((e) => e.kind === 'backend').map((e) => e.kind === 'backend' && e.backend.name), 'one backend chosen, none tried after the failure').toEqual(['wasm']);
  expect(checkpoints).toBe(2);
});

test('a run record that cannot be written fails the run before a checkpoint gets ahead of it', async () => {
  const { drawings, runs } = await stores();
  // The disk fills up once epoch 1's record is stored: the record with epoch 2's metrics cannot be written.
  let failedWrites = 0;
  const checkpointEpochs: number[] = [];
  const fullRuns = Object.assign(Object.create(runs) as RunStore, {
    putRun: async (record: Parameters<RunStore['putRun']>[0]) => {
      if (record.epochs.length >= 2 && record.status === 'running') {
        failedWrites++;
        throw quotaError('the run record');
      }
      return runs.putRun(record);
    },
    putCheckpoint: async (checkpoint: Parameters<RunStore['putCheckpoint']>[0]) => {
      checkpointEpochs.push(checkpoint.epoch);
      return runs.putCheckpoint(checkpoint);
    },
  });
  const run = await trainBars('cpu', drawings, fullRuns);
  expect(failedWrites).toBe(1);
  expect(run.status).toBe('failed');
  expect(run.error).toMatch(/storage is full/);
  // Epoch 2's checkpoint would have counted an epoch whose metrics are in no stored record.
  expect(checkpointEpochs).toEqual([1]);
  const stored = await runs.getRun(run.runId);
  expect(stored?.status, 'the failure itself is stored (the record without epoch 2 fits)').toBe('failed');
  expect(stored?.epochs.length).toBe(2);
});

/** The IndexedDB connection a store is using now (private to it: what the browser closes under it). */
const openConnection = (store: DrawingStore | RunStore): IDBPDatabase | null =>
  (store as unknown as { connection: { opened: IDBPDatabase | null } }).connection.opened;

test('a connection the browser closes mid-run is opened again and the run finishes on the same backend', async () => {
  const { drawings, runs } = await stores();
  let closed = 0;
  const run = await trainBars('cpu', drawings, runs, (p) => {
    // What Chromium does when it wipes a database after a full disk: the connection closes, and its close event
    // may come after the next call that finds it closed.
    if (p.kind === 'batch' && p.epoch === 2 && closed === 0) {
      for (const store of [drawings, runs]) {
        openConnection(store)?.close();
        closed++;
      }
    }
  });
  expect(closed).toBe(2);
  expect(run.error).toBeNull();
  expect(run.status).toBe('done');
  expect((await runs.getCheckpoint(run.runId))?.epoch).toBe(3);
  expect((await runs.getRun(run.runId))?.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
});

test('a newer version of the app upgrading the database mid-run fails the run with "reload", on one backend', async () => {
  const { name, drawings, runs } = await stores();
  let upgrade: Promise<void> | null = null;
  const events: TrainProgress[] = [];
  const run = await trainBars('wasm', drawings, runs, (p) => {
    events.push(p);
    // Another tab opens the database at a higher version: the stores step aside (versionchange), and their next
    // open meets the newer version.
    if (p.kind === 'batch' && p.epoch === 2 && upgrade === null) {
      upgrade = openDB(name, DB_VERSION + 1).then((db) => db.close());
    }
  });
  await upgrade;
  expect(run.status).toBe('failed');
  expect(run.error).toMatch(/newer version of Doodle Lab .*reload the page/);
  expect(events.filter((e) => e.kind === 'backend').map((e) => e.kind === 'backend' && e.backend.name)).toEqual(['wasm']);
});
