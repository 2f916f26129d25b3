// WebAssembly threads for the engine's CPU path. Helper threads each run an instance of engine-threads.wasm on the
// trainer's one shared memory, with a C stack of their own; a kernel call is split into slices (rows, drawings or
// channels: parallel.ts) and the calling thread runs the first slice while each helper runs one of the others.
// Calls are handed over through a control block in a SharedArrayBuffer with Atomics, not messages: a step makes
// about a hundred of them. Pure TS, any thread; the caller says how a helper thread starts (a Worker in the
// browser, worker_threads in Node), and that thread calls `serveKernels`.
import { instantiateKernels, type EngineKernels } from './kernels.ts';

/** What a helper thread needs: the module, the shared memory, the control block, which helper it is, its stack. */
export interface HelperInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** 1, 2, …: the calling thread is 0. */
  index: number;
  /** Byte offset just past this helper's C stack (the stack grows down). */
  stackTop: number;
}

/** A started helper thread. */
export interface Helper {
  terminate(): void;
}

/**
 * Starts a thread that calls `serveKernels(init)`; returns at once (the pool waits for it to say it is ready).
 * `failed` is for the thread's own failure to start or load (a worker's error event).
 */
export type StartHelper = (init: HelperInit, failed: (reason: string) => void) => Helper;

/** The threads build of the engine's module and how many threads (the caller included) to run it on. */
export interface ThreadedModule {
  module: WebAssembly.Module;
  threads: number;
  start: StartHelper;
}

/**
 * The engine's CPU path as a worker or test hands it over: the one-thread build, and the threads build where
 * threads can run here (else why not, for the page to say).
 */
export interface CpuEngine {
  module: WebAssembly.Module;
  threaded?: ThreadedModule;
  /** Why it runs on one thread, when `threaded` is absent. */
  oneThreadReason?: string;
}

/** The exports a slice may call: the kernels parallel.ts splits. */
export const SPLIT_KERNELS = [
  'gemm', 'stem_forward', 'stem_filter_sums', 'depthwise_forward', 'depthwise_backward_input', 'depthwise_filter_sums',
  'norm_block_sums', 'norm_apply', 'norm_forward_inference', 'norm_grad_block_sums', 'norm_grad_apply', 'preprocess', 'adam', 'add_forward',
] as const;
export type SplitKernel = (typeof SPLIT_KERNELS)[number];

/** Bytes of C stack each helper gets (the kernels keep a few KiB of tap tables there). */
export const HELPER_STACK_BYTES = 256 * 1024;
/** The threads build's memory starts at this many 64 KiB pages (scripts/build-wasm.sh: --initial-memory=131072). */
export const THREADS_INITIAL_PAGES = 2;

// The control block: Int32 slots, then each helper's arguments as Float64 (every pointer, count and f32 argument
// is exact in a double).
const GENERATION = 0, PENDING = 1, READY = 2, FAILED = 3, KERNEL = 8;
const MAX_HELPERS = 31;
const MAX_ARGS = 16;
const ARGS_BYTES = 8 * Math.ceil(((KERNEL + MAX_HELPERS + 1) * 4) / 8);
/** How long a waiting thread checks the control block before it sleeps: calls come every few hundred µs. */
const SPIN = 20_000;
/** A slice that takes longer than this means its thread died (a worker can be killed) or hangs. */
const STALL_MS = 60_000;

type Kernel = (...args: number[]) => void;

/** Whether this thread may block in Atomics.wait (workers and Node may; a page's main thread may not). */
const CAN_BLOCK = (() => {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
})();

/** Runs in each helper thread: serves slices until the thread is terminated. */
export async function serveKernels(init: HelperInit): Promise<never> {
  const control = new Int32Array(init.control);
  const args = new Float64Array(init.control, ARGS_BYTES, (MAX_HELPERS + 1) * MAX_ARGS);
  let kernels: Kernel[];
  try {
    const k = await instantiateKernels(init.module, init.memory);
    k.__stack_pointer!.value = init.stackTop;
    kernels = SPLIT_KERNELS.map((name) => k[name] as Kernel);
  } catch {
    Atomics.store(control, FAILED, init.index);
    Atomics.notify(control, READY);
    throw new Error(`engine thread ${init.index} could not instantiate the module`);
  }
  Atomics.add(control, READY, 1);
  Atomics.notify(control, READY);
  let generation = 0;
  for (;;) {
    for (let spin = 0; spin < SPIN && Atomics.load(control, GENERATION) === generation; spin++);
    // A wake is not a new call: the caller's notify for the call just served can arrive after this thread served
    // it and came back to wait (the caller was descheduled between its add and its notify), so only a changed
    // generation counts.
    let next;
    while ((next = Atomics.load(control, GENERATION)) === generation) Atomics.wait(control, GENERATION, generation);
    generation = next;
    const kernel = Atomics.load(control, KERNEL + init.index);
    if (kernel >= 0) {
      const at = init.index * MAX_ARGS;
      try {
        kernels[kernel]!(...Array.from(args.subarray(at, at + MAX_ARGS)));
      } catch {
        Atomics.store(control, FAILED, init.index);
      }
    }
    if (Atomics.sub(control, PENDING, 1) === 1) Atomics.notify(control, PENDING);
  }
}

/** The calling thread's side: its own instance's kernels, the helpers, and the control block they share. */
export class KernelPool {
  private readonly control: Int32Array;
  private readonly args: Float64Array;

  private constructor(private readonly own: EngineKernels, private readonly helpers: Helper[], buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer);
    this.args = new Float64Array(buffer, ARGS_BYTES, (MAX_HELPERS + 1) * MAX_ARGS);
  }

  /**
   * Starts `stackTops.length` helpers on `memory` and waits until each has its instance (at most `timeoutMs`);
   * throws, with every helper stopped, when one fails or does not answer.
   */
  static async start(threaded: ThreadedModule, own: EngineKernels, memory: WebAssembly.Memory, stackTops: readonly number[], timeoutMs = 20_000): Promise<KernelPool> {
    if (stackTops.length > MAX_HELPERS) throw new Error(`at most ${MAX_HELPERS} engine helper threads, not ${stackTops.length}`);
    const buffer = new SharedArrayBuffer(ARGS_BYTES + (MAX_HELPERS + 1) * MAX_ARGS * 8);
    const control = new Int32Array(buffer);
    const helpers: Helper[] = [];
    const stop = () => helpers.forEach((h) => h.terminate());
    let failure: string | null = null;
    try {
      stackTops.forEach((stackTop, i) => helpers.push(threaded.start({ module: threaded.module, memory, control: buffer, index: i + 1, stackTop }, (reason) => {
        failure ??= `engine thread ${i + 1} failed: ${reason}`;
      })));
      const deadline = Date.now() + timeoutMs;
      // Polled, not Atomics.wait: the page's main thread may not block, and a helper's start-up needs this event loop
      // free when it is a worker started from here.
      while (Atomics.load(control, READY) < helpers.length) {
        if (failure !== null) throw new Error(failure);
        if (Atomics.load(control, FAILED) !== 0) throw new Error(`engine thread ${Atomics.load(control, FAILED)} could not instantiate the module`);
        if (Date.now() > deadline) throw new Error(`the engine's helper threads did not start within ${timeoutMs / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } catch (error) {
      stop();
      throw error;
    }
    return new KernelPool(own, helpers, buffer);
  }

  /** Threads a call is split among, the calling one included. */
  get threads(): number {
    return this.helpers.length + 1;
  }

  /**
   * Runs `kernel` once per slice, all at the same time: slice 0 here, slice i on helper i; returns when every slice
   * is done. Blocks the calling thread (a worker's, or Node's) while it waits.
   */
  run(kernel: SplitKernel, slices: readonly (readonly number[])[]): void {
    const { control, args } = this;
    if (slices.length > this.threads) throw new Error(`${slices.length} slices for ${this.threads} threads`);
    const id = SPLIT_KERNELS.indexOf(kernel);
    for (let h = 1; h <= this.helpers.length; h++) {
      const slice = slices[h];
      Atomics.store(control, KERNEL + h, slice === undefined ? -1 : id);
      if (slice !== undefined) args.set(slice, h * MAX_ARGS);
    }
    Atomics.store(control, PENDING, this.helpers.length);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    let failure: unknown = null;
    try {
      if (slices[0] !== undefined) (this.own[kernel] as Kernel)(...slices[0]);
    } catch (error) {
      failure = error;
    }
    for (let spin = 0; spin < SPIN && Atomics.load(control, PENDING) !== 0; spin++);
    const stalled = (pending: number) => {
      this.terminate();
      return new Error(`the engine's helper threads stopped answering: ${pending} still busy with ${kernel} after ${STALL_MS / 1000} s`);
    };
    if (CAN_BLOCK) {
      for (let pending = Atomics.load(control, PENDING); pending !== 0; pending = Atomics.load(control, PENDING)) {
        if (Atomics.wait(control, PENDING, pending, STALL_MS) === 'timed-out' && Atomics.load(control, PENDING) === pending) throw stalled(pending);
      }
    } else {
      // A page's main thread may not block (the app calls from its trainer worker; browser tests call from the page).
      const deadline = performance.now() + STALL_MS;
      for (let pending = Atomics.load(control, PENDING); pending !== 0; pending = Atomics.load(control, PENDING)) {
        if (performance.now() > deadline) throw stalled(pending);
      }
    }
    if (failure !== null) throw failure;
    const failed = Atomics.exchange(control, FAILED, 0);
    if (failed !== 0) throw new Error(`${kernel} failed on engine thread ${failed}`);
  }

  terminate(): void {
    for (const helper of this.helpers) helper.terminate();
    this.helpers.length = 0;
  }
}
