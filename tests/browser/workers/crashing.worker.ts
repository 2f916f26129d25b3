// A worker for tests/browser/worker-client.test.ts: answers echo, and crashes mid-call from a timer (an error no
// call catches, as a kernel's out-of-memory inside a training step would), so the call it was answering never returns.
import * as Comlink from 'comlink';

const api = {
  echo<T>(value: T): T {
    return value;
  },
  crashMidCall(): Promise<void> {
    return new Promise(() => {
      setTimeout(() => {
        throw new Error('out of memory in a kernel');
      }, 20);
    });
  },
};

export type CrashingApi = typeof api;
Comlink.expose(api);
