// How state classes reach a worker: it starts on the first call, and when it errors or dies every call still in
// flight fails with a WorkerStoppedError that says what happened and that stored data is safe (IndexedDB outlives
// the worker); the next call starts a fresh one. Without this, a worker that crashed left its callers waiting
// forever and nothing on the page said so.
import * as Comlink from 'comlink';
// Errors keep their code and file across the worker boundary, both ways (workers/thread-errors.ts).
import '../../workers/thread-errors.ts';

export class WorkerStoppedError extends Error {
  override name = 'WorkerStoppedError';
}

export class WorkerClient<T extends object> {
  /**
   * The worker's API: each method call starts the worker if it is not running and fails with a WorkerStoppedError
   * if the worker stops before answering. Only method calls are forwarded (as comlink forwards them).
   */
  readonly api: Comlink.Remote<T>;
  private worker: Worker | null = null;
  private remote: Comlink.Remote<T> | null = null;
  private readonly pending = new Set<(error: WorkerStoppedError) => void>();

  /**
   * `what` names the worker in messages ("training worker"); `start` creates it; `onStopped` hears of every stop,
   * also one between calls, so the page can say so.
   */
  constructor(private readonly what: string, private readonly start: () => Worker, private readonly onStopped: (error: WorkerStoppedError) => void = () => {}) {
    // `then` stays undefined, so awaiting the proxy itself does not look like a call.
    this.api = new Proxy({}, {
      get: (_, name) => (typeof name === 'string' && name !== 'then' ? (...args: unknown[]) => this.call(name, args) : undefined),
    }) as Comlink.Remote<T>;
  }

  /** Whether a worker is running now (it starts on the first call). */
  get running(): boolean {
    return this.worker !== null;
  }

  /** Ends the worker as a crash would, failing the calls in flight (tests; a page that wants its memory back). */
  terminate(reason = 'it was ended'): void {
    if (this.worker !== null) this.stop(this.worker, reason);
  }

  private call(name: string, args: unknown[]): Promise<unknown> {
    const remote = this.ensure() as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    return new Promise((resolve, reject) => {
      this.pending.add(reject);
      remote[name]!(...args).then(resolve, reject).finally(() => this.pending.delete(reject));
    });
  }

  private ensure(): Comlink.Remote<T> {
    if (this.remote !== null) return this.remote;
    const worker = this.start();
    worker.addEventListener('error', (event) => {
      // Handled here: the page says what happened instead of the console alone.
      event.preventDefault();
      this.stop(worker, event.message ? `it failed: ${event.message}` : 'it failed to start or hit an error it did not catch');
    });
    worker.addEventListener('messageerror', () => this.stop(worker, 'it sent a message that could not be read'));
    this.worker = worker;
    this.remote = Comlink.wrap<T>(worker);
    return this.remote;
  }

  private stop(worker: Worker, reason: string): void {
    if (worker !== this.worker) return;
    worker.terminate();
    this.worker = null;
    this.remote = null;
    const error = new WorkerStoppedError(`The ${this.what} stopped: ${reason}. Everything already stored is safe; the next action starts it again.`);
    const calls = [...this.pending];
    this.pending.clear();
    for (const fail of calls) fail(error);
    this.onStopped(error);
  }
}
