// Which model plays, as one string: "run:<id>" for a trained run, "model:<id>" for an imported model. The Play page's
// <select> holds it and the inference worker keys its loaded model by it; these three functions read and write that
// form. Pure.

export const runChoice = (runId: string): string => `run:${runId}`;
export const modelChoice = (modelId: string): string => `model:${modelId}`;

/** The kind and id of a choice made by runChoice or modelChoice; null for anything else. */
export function parseChoice(choice: string | null): { kind: 'run' | 'model'; id: string } | null {
  const kind = choice?.slice(0, choice.indexOf(':'));
  return choice !== null && (kind === 'run' || kind === 'model') ? { kind, id: choice.slice(kind.length + 1) } : null;
}
