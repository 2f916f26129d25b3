// WorkerClient: a worker that dies mid-call fails that call with a message a person can act on, and the next call
// works on a fresh worker.
import { describe, expect, it } from 'vitest';
import { toErrorInfo } from '../../src/core/errors.ts';
import { WorkerClient, WorkerStoppedError } from '../../src/state/worker-client.ts';
import type { CrashingApi } from './workers/crashing.worker.ts';

const start = () => new Worker(new URL('./workers/crashing.worker.ts', import.meta.url), { type: 'module' });

describe('WorkerClient', () => {
  it('starts the worker on the first call, not before', async () => {
    const client = new WorkerClient<CrashingApi>('test worker', start);
    expect(client.running).toBe(false);
    expect(await client.api.echo(7)).toBe(7);
    expect(client.running).toBe(true);
    client.terminate();
  });

  it('fails a call in flight when the worker crashes, says so, and answers the next call from a fresh worker', async () => {
    const heard: string[] = [];
    const client = new WorkerClient<CrashingApi>('test worker', start, (error) => heard.push(error.message));
    const failed = await client.api.crashMidCall().then(() => null, (error: unknown) => error);
    expect(failed).toBeInstanceOf(WorkerStoppedError);
    expect((failed as Error).message).toMatch(/^The test worker stopped: it failed: .*out of memory in a kernel.*Everything already stored is safe/);
    expect(heard).toEqual([(failed as Error).message]);
    expect(client.running).toBe(false);
    expect(await client.api.echo('again')).toBe('again');
    client.terminate();
  });

  it('fails every call in flight when the worker is ended, and a worker that cannot load fails its call', async () => {
    const client = new WorkerClient<CrashingApi>('test worker', start);
    const calls = [client.api.crashMidCall(), client.api.crashMidCall()].map((p) => p.then(() => 'answered', (e: unknown) => (e as Error).name));
    await client.api.echo(1);
    client.terminate();
    // The crash timers may win the race with terminate: either way each call fails with the client's error.
    expect(await Promise.all(calls)).toEqual(['WorkerStoppedError', 'WorkerStoppedError']);

    const missing = new WorkerClient<CrashingApi>('missing worker', () => new Worker(new URL('./workers/no-such.worker.js', import.meta.url), { type: 'module' }));
    await expect(missing.api.echo(1)).rejects.toThrow(/^The missing worker stopped: it failed/);
  });

  it('brings a DataError across with its code and file, and names a full disk quota, so the page need not guess', async () => {
    const client = new WorkerClient<CrashingApi>('test worker', start);
    const thrown = await client.api.throwDataError().then(() => null, (error: unknown) => error);
    expect(toErrorInfo(thrown)).toEqual({ code: 'checksum', message: 'The bytes of cat.npy are not the ones the manifest lists.', file: 'cat.npy' });
    const full = await client.api.throwFullDisk().then(() => null, (error: unknown) => error);
    expect(toErrorInfo(full).code).toBe('quota');
    // A thrown error is no crash: the worker keeps running.
    expect(client.running).toBe(true);
    client.terminate();
  });
});
