// A worker for tests/browser/worker-client.test.ts: answers echo, crashes mid-call from a timer (an error no call
// catches, as a kernel's out-of-memory inside a training step would, so the call it was answering never returns), and
// throws the errors a data worker throws, to see them arrive with their codes.
import * as Comlink from 'comlink';
import '../../../workers/thread-errors.ts';
import { DataError } from '../../../src/core/errors.ts';

const api = {
  echo<T>(value: T): T {
    return value;
  },
  throwDataError(): void {
    throw new DataError('checksum', 'The bytes of cat.npy are not the ones the manifest lists.', 'cat.npy');
  },
  throwFullDisk(): void {
    throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
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
