// The real Teachable Machine export (MobileNet v2) read from ../shared through Vitest's file commands, for the
// engine's v2 browser tests; null where this checkout has no ../shared beside it (CI), so those tests skip.
import { commands } from 'vitest/browser';
import { TM_FOLDER, type TeachableMachineFiles } from '../../../datasets/teachable-machine.ts';

/** The export's model.json and weights.bin, or null where they are absent (any other failure throws). */
export async function teachableFiles(): Promise<TeachableMachineFiles | null> {
  const folder = `../shared/${TM_FOLDER}`;
  try {
    const model = JSON.parse(await commands.readFile(`${folder}/model.json`)) as TeachableMachineFiles['model'];
    const weights = Uint8Array.from(atob(await commands.readFile(`${folder}/weights.bin`, { encoding: 'base64' })), (ch) => ch.charCodeAt(0));
    return { model, weights: weights.buffer };
  } catch (error) {
    if (String(error).includes('ENOENT')) return null;
    throw error;
  }
}
