// Errors keep their meaning across threads. comlink posts a thrown Error as its name, message and stack only, so a
// DataError's code ('quota', 'checksum', …) and file were lost on the way to the page, which then guessed a full
// disk from the message's words. This widens comlink's 'throw' handler to carry them (and to name a browser's own
// full-disk DOMException 'quota'); the other end rebuilds an Error with those fields, which toErrorInfo reads.
// Imported for its effect by every worker and by the page's WorkerClient, so both directions carry them.
import * as Comlink from 'comlink';
import { dataErrorCodeOf, isQuotaError } from '../src/core/errors.ts';

interface Serialized {
  isError: boolean;
  value: Record<string, unknown>;
}

const plain = Comlink.transferHandlers.get('throw')!;

Comlink.transferHandlers.set('throw', {
  canHandle: plain.canHandle,
  serialize(thrown) {
    const [serialized, transfer] = plain.serialize(thrown) as [Serialized, Transferable[]];
    const error = (thrown as { value: unknown }).value;
    if (serialized.isError) {
      const code = dataErrorCodeOf(error) ?? (isQuotaError(error) ? 'quota' : null);
      if (code !== null) serialized.value.code = code;
      const { file, transient } = error as { file?: unknown; transient?: unknown };
      if (typeof file === 'string') serialized.value.file = file;
      if (typeof transient === 'boolean') serialized.value.transient = transient;
    }
    return [serialized, transfer];
  },
  deserialize: plain.deserialize,
});
